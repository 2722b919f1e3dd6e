//! Re-reading the config file: the one reload path, taken on SIGHUP and by HQ's Reload command.
//!
//! Only drivers change on a reload; the journal and the uplink keep their state and
//! connections. The run loop owns the drivers, so a command asks it through a
//! [`ReloadRequest`] and waits for the report.

use std::path::Path;

use tokio::sync::oneshot;
use tracing::{error, info, warn};

use crate::config::AgentConfig;
use crate::supervisor::{Applied, Drivers};

/// What a reload did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    pub applied: Applied,
    /// Sections that changed in the file but only take effect after a restart.
    pub needs_restart: Vec<&'static str>,
}

impl ReloadReport {
    /// The report in words for the operator.
    pub fn describe(&self) -> String {
        let a = &self.applied;
        let mut text = format!(
            "config reloaded: drivers started {:?}, restarted {:?}, stopped {:?}, {} unchanged",
            a.started,
            a.restarted,
            a.stopped,
            a.unchanged.len()
        );
        if !self.needs_restart.is_empty() {
            text.push_str(&format!(
                "; changed but applied only after a restart: {}",
                self.needs_restart.join(", ")
            ));
        }
        text
    }
}

/// A command's request to the run loop; the reply is the report or why nothing changed.
#[derive(Debug)]
pub struct ReloadRequest {
    pub reply: oneshot::Sender<Result<ReloadReport, String>>,
}

/// Re-reads `path` and applies its drivers. A file that fails to load changes nothing; the
/// error names file, line and key.
pub fn reload(
    path: &Path,
    running: &AgentConfig,
    drivers: &mut Drivers,
) -> Result<ReloadReport, String> {
    let new = match AgentConfig::load(path) {
        Ok(c) => c,
        Err(e) => {
            error!(error = %e, "Reload refused: the config file is invalid; nothing changed.");
            return Err(e.to_string());
        }
    };
    let applied = drivers.apply(&new.drivers);
    info!(
        started = ?applied.started,
        restarted = ?applied.restarted,
        stopped = ?applied.stopped,
        unchanged = applied.unchanged.len(),
        "Config reloaded: drivers applied."
    );
    let needs_restart = needs_restart(running, &new);
    if !needs_restart.is_empty() {
        warn!(sections = ?needs_restart, "Only drivers are reloaded; identity, journal, mqtt, uplink, metrics and privacy changes take effect after a restart.");
    }
    Ok(ReloadReport {
        applied,
        needs_restart,
    })
}

fn needs_restart(running: &AgentConfig, new: &AgentConfig) -> Vec<&'static str> {
    let mut sections = Vec::new();
    if new.store_id != running.store_id || new.agent_id != running.agent_id {
        sections.push("identity");
    }
    if new.state_dir != running.state_dir {
        sections.push("state_dir");
    }
    if new.journal != running.journal {
        sections.push("journal");
    }
    if new.mqtt != running.mqtt {
        sections.push("mqtt");
    }
    if new.uplink != running.uplink {
        sections.push("uplink");
    }
    if new.metrics != running.metrics {
        sections.push("metrics");
    }
    if new.privacy != running.privacy {
        sections.push("privacy");
    }
    sections
}
