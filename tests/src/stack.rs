//! One store and one HQ: a broker, a collector and an agent, each in its own subdirectory of a
//! [`TestEnv`], wired together on free ports.

use std::time::Duration;

use crate::check;
use crate::stats::Stats;
use crate::{Agent, AgentConfig, Collector, CollectorConfig, Mosquitto, TestEnv};

/// `[mqtt]` lines: `pki`'s CA as `tls_ca_file`, and `client` as certificate and key.
pub fn tls_keys(pki: &crate::pki::Pki, client: Option<&crate::pki::CertFiles>) -> String {
    let path = |p: &std::path::Path| crate::agent::toml_str(&p.to_string_lossy());
    let mut s = format!("tls_ca_file = {}\n", path(&pki.ca_file));
    if let Some(c) = client {
        s.push_str(&format!(
            "tls_cert_file = {}\ntls_key_file = {}\n",
            path(&c.cert),
            path(&c.key)
        ));
    }
    s
}

/// The processes of one end-to-end test. Fields drop in order: agent, collector, broker (each
/// killed, with its log tail printed if the test is failing), then the directory.
pub struct Stack {
    pub agent: Agent,
    pub collector: Collector,
    /// `None` when the collector runs its embedded broker.
    pub broker: Option<Mosquitto>,
    pub env: TestEnv,
}

impl Stack {
    /// Mosquitto, then a collector and an agent connected to it.
    pub fn with_mosquitto(name: &str) -> Self {
        Self::with_mosquitto_and(name, |_| {})
    }

    /// Like [`Stack::with_mosquitto`], with a chance to adjust the agent's config.
    pub fn with_mosquitto_and(name: &str, tweak: impl FnOnce(&mut AgentConfig)) -> Self {
        let env = TestEnv::new(name);
        let broker = Mosquitto::start_in(&env.subdir("mosquitto"));
        env.log(format!("mosquitto listening on {}", broker.addr()));
        let collector_dir = env.subdir("collector");
        let collector = Collector::start(
            &collector_dir,
            CollectorConfig::new(&collector_dir, broker.port()),
        );
        env.log(format!("collector API on {}", collector.api_addr()));
        let agent_dir = env.subdir("agent");
        let mut cfg = AgentConfig::new(&agent_dir, broker.port());
        tweak(&mut cfg);
        let agent = Agent::start(&agent_dir, cfg);
        env.log(format!("agent line feed on {}", agent.feed_addr()));
        Self {
            agent,
            collector,
            broker: Some(broker),
            env,
        }
    }

    /// Like [`Stack::with_mosquitto_and`], with the agent reaching the broker through a
    /// [`Proxy`](crate::proxy::Proxy) (the collector connects directly), so a test can cut,
    /// black-hole or throttle the store's uplink alone.
    pub fn with_proxy(
        name: &str,
        tweak: impl FnOnce(&mut AgentConfig),
    ) -> (Self, crate::proxy::Proxy) {
        let env = TestEnv::new(name);
        let broker = Mosquitto::start_in(&env.subdir("mosquitto"));
        let proxy = crate::proxy::Proxy::start(broker.addr());
        env.log(format!(
            "mosquitto listening on {}, proxy for the agent on {}",
            broker.addr(),
            proxy.addr()
        ));
        let collector_dir = env.subdir("collector");
        let collector = Collector::start(
            &collector_dir,
            CollectorConfig::new(&collector_dir, broker.port()),
        );
        let agent_dir = env.subdir("agent");
        let mut cfg = AgentConfig::new(&agent_dir, proxy.port());
        tweak(&mut cfg);
        let agent = Agent::start(&agent_dir, cfg);
        env.log(format!("agent line feed on {}", agent.feed_addr()));
        let stack = Self {
            agent,
            collector,
            broker: Some(broker),
            env,
        };
        (stack, proxy)
    }

    /// The shipped Mosquitto config (`config/mosquitto/mosquitto.conf`: TLS, client
    /// certificates as identities, the shipped ACL) with a test CA; a collector and an agent
    /// connected to it over mutual TLS with certificates named as the ACL expects
    /// (`collector-hq-1`, `{store_id}/agents/{agent_id}`). Returns the CA too, to issue more.
    /// `acl_extra` is appended to the shipped ACL.
    pub fn with_shipped_mosquitto(name: &str, acl_extra: &str) -> (Self, crate::pki::Pki) {
        let env = TestEnv::new(name);
        let pki = crate::pki::Pki::new(&env.subdir("pki"), "hq");
        let broker =
            Mosquitto::start_shipped(&env.subdir("mosquitto"), "mosquitto.conf", &pki, acl_extra);
        env.log(format!("mosquitto (TLS) listening on {}", broker.addr()));
        let collector_dir = env.subdir("collector");
        let mut ccfg = CollectorConfig::new(&collector_dir, broker.port());
        ccfg.mqtt_extra = tls_keys(&pki, Some(&pki.client("collector-hq-1")));
        let collector = Collector::start(&collector_dir, ccfg);
        env.log(format!("collector API on {}", collector.api_addr()));
        let agent_dir = env.subdir("agent");
        let mut cfg = AgentConfig::new(&agent_dir, broker.port());
        let cert = pki.client(&format!("{}/agents/{}", cfg.store_id, cfg.agent_id));
        cfg.mqtt_extra = tls_keys(&pki, Some(&cert));
        let agent = Agent::start(&agent_dir, cfg);
        env.log(format!("agent line feed on {}", agent.feed_addr()));
        let stack = Self {
            agent,
            collector,
            broker: Some(broker),
            env,
        };
        (stack, pki)
    }

    /// A collector running its embedded rumqttd broker, and an agent connected to it.
    pub fn with_embedded_broker(name: &str) -> Self {
        let env = TestEnv::new(name);
        let collector_dir = env.subdir("collector");
        let collector = Collector::start(
            &collector_dir,
            CollectorConfig::with_embedded_broker(&collector_dir),
        );
        env.log(format!(
            "collector API on {}, embedded broker on 127.0.0.1:{}",
            collector.api_addr(),
            collector.mqtt_port()
        ));
        let agent_dir = env.subdir("agent");
        let agent = Agent::start(
            &agent_dir,
            AgentConfig::new(&agent_dir, collector.mqtt_port()),
        );
        env.log(format!("agent line feed on {}", agent.feed_addr()));
        Self {
            agent,
            collector,
            broker: None,
            env,
        }
    }

    pub fn store_id(&self) -> String {
        self.agent.config().store_id.clone()
    }

    pub fn agent_id(&self) -> String {
        self.agent.config().agent_id.clone()
    }

    /// The broker; panics for an embedded-broker stack.
    pub fn broker(&mut self) -> &mut Mosquitto {
        self.broker.as_mut().expect("this stack has no Mosquitto")
    }

    /// `Ok` unless a process exited on its own (deliberately stopped ones are fine).
    pub fn alive(&mut self) -> Result<(), String> {
        self.agent.check_not_crashed()?;
        self.collector.check_not_crashed()?;
        if let Some(b) = self.broker.as_mut() {
            b.check_not_crashed()?;
        }
        Ok(())
    }

    /// Current collector stats.
    pub fn stats(&self) -> Result<Stats, String> {
        self.collector.stats()
    }

    /// One line: the collector's view of this agent, or why it cannot be had.
    pub fn stats_summary(&self) -> String {
        match self.stats() {
            Ok(s) => s.summary(&self.store_id(), &self.agent_id()),
            Err(e) => format!("(stats unavailable: {e})"),
        }
    }

    /// Waits until the collector's contiguous mark reaches `target` with no gaps (see
    /// [`check::wait_committed`]); fails at once if a process crashes.
    pub fn wait_committed(&mut self, target: u64, timeout: Duration) -> Stats {
        let (store, agent) = (self.store_id(), self.agent_id());
        let Self {
            agent: a,
            collector,
            broker,
            ..
        } = self;
        check::wait_committed(collector, &store, &agent, target, timeout, || {
            a.check_not_crashed()?;
            if let Some(b) = broker.as_mut() {
                b.check_not_crashed()?;
            }
            Ok(())
        })
    }

    /// Stats after a quiet period: anything applied after the mark was reached (a late
    /// duplicate applied twice, say) shows up here. The wait is the check itself ("nothing
    /// changes for `quiet`"), not a wait for an outcome.
    pub fn settled_stats(&mut self, reached: Stats, quiet: Duration) -> Stats {
        crate::wait::sleep_checking(quiet, || self.alive());
        let now = self
            .stats()
            .unwrap_or_else(|e| panic!("stats after settling: {e}"));
        let (store, agent) = (self.store_id(), self.agent_id());
        if now.applied_total != reached.applied_total {
            self.env.log(format!(
                "applied_total moved after the mark was reached: {} -> {}",
                reached.applied_total, now.applied_total
            ));
        }
        self.env
            .log(format!("settled: {}", now.summary(&store, &agent)));
        now
    }

    /// The end of a scenario in which the agent was never killed: stops the writer, waits until
    /// the collector committed every acknowledged seq, and checks zero loss plus an exact effect
    /// (every line answered, applied exactly what was acknowledged, per-kind counts and exits).
    pub fn finish_exact(&mut self, name: &str, writer: crate::Writer) -> Stats {
        let report = writer.stop();
        self.env
            .log(format!("writer stopped: {}", report.summary()));
        let (store, agent) = (self.store_id(), self.agent_id());
        let max = report.max_acked().expect("acknowledged lines");
        let reached = self.wait_committed(max, Duration::from_secs(300));
        let stats = self.settled_stats(reached, Duration::from_secs(2));
        let v = check::delivery_violations(&stats, &store, &agent, &report);
        check::assert_no_violations(name, &v, &stats, &store, &agent, &report);
        assert_eq!(report.unanswered, 0, "{}", report.summary());
        assert_eq!(
            stats.applied_total,
            report.acked.len() as u64,
            "applied_total must equal the acknowledged events exactly"
        );
        assert_eq!(stats.store(&store).kinds, report.acked_tally.kinds, "kinds");
        assert_eq!(
            stats.store(&store).foot_traffic_exits,
            report.acked_tally.exits,
            "foot_traffic_exits"
        );
        stats
    }
}
