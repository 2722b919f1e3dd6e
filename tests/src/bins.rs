//! Where the binaries under test are.
//!
//! `cargo test` builds only the binaries of the package under test, so the agent and the
//! collector are built beforehand, in the same profile (`cargo build --release --bins`). The test
//! executable lives in `target/<profile>/deps/` (the bench in `target/<profile>/`): walking up from
//! it finds `target/<profile>/`, where the binaries are. `STORE_AGENT_BIN`,
//! `STORE_COLLECTOR_BIN` and `MOSQUITTO_BIN` override the lookup.

use std::path::{Path, PathBuf};

/// Path of the `store-agent` binary.
pub fn agent() -> PathBuf {
    workspace_bin("store-agent", "STORE_AGENT_BIN")
}

/// Path of the `store-collector` binary.
pub fn collector() -> PathBuf {
    workspace_bin("store-collector", "STORE_COLLECTOR_BIN")
}

/// Path of the `mosquitto` broker: `MOSQUITTO_BIN`, `/usr/sbin/mosquitto`, or `mosquitto` on
/// `PATH`.
pub fn mosquitto() -> PathBuf {
    if let Some(p) = std::env::var_os("MOSQUITTO_BIN") {
        return PathBuf::from(p);
    }
    let mut candidates = vec![PathBuf::from("/usr/sbin/mosquitto")];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join("mosquitto")));
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "mosquitto not found (looked at /usr/sbin/mosquitto and PATH; set MOSQUITTO_BIN). \
                 Install it with `apt-get install mosquitto`, or run scripts/test.sh, which does."
            )
        })
}

/// The `target/<profile>/` directory the current executable was built into.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    find_profile_dir(&exe).unwrap_or_else(|| {
        panic!(
            "cannot find the target/<profile>/ directory above {}",
            exe.display()
        )
    })
}

/// `target/<profile>/` is the first ancestor that is not `deps` (tests) or `examples`.
fn find_profile_dir(exe: &Path) -> Option<PathBuf> {
    let mut dir = exe.parent()?;
    while matches!(
        dir.file_name().and_then(|n| n.to_str()),
        Some("deps") | Some("examples")
    ) {
        dir = dir.parent()?;
    }
    Some(dir.to_path_buf())
}

fn workspace_bin(name: &str, env_override: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env_override) {
        return PathBuf::from(p);
    }
    let dir = profile_dir();
    let path = dir.join(name);
    if !path.is_file() {
        let profile = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("release");
        let flag = if profile == "release" {
            " --release".to_string()
        } else if profile == "debug" {
            String::new()
        } else {
            format!(" --profile {profile}")
        };
        panic!(
            "{name} not found at {}: build the binaries first, in the same profile as the tests: \
             `cargo build{flag} --bins` (scripts/test.sh does), or set {env_override}",
            path.display()
        );
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_dir_skips_deps() {
        assert_eq!(
            find_profile_dir(Path::new("/r/target/release/deps/happy-1234")).unwrap(),
            PathBuf::from("/r/target/release")
        );
        assert_eq!(
            find_profile_dir(Path::new("/r/target/release/bench")).unwrap(),
            PathBuf::from("/r/target/release")
        );
    }
}
