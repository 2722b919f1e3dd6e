//! The Debian package: `scripts/package-deb.sh` turns the release binary just built into a .deb
//! whose files, modes, conffile and maintainer scripts are what `[package.metadata.deb]` in
//! `agent/Cargo.toml` declares for cargo-deb, and whose parts fit together (the unit reads the
//! conffile, the conffile's state_dir is the unit's StateDirectory, the packaged binary runs).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use store_tests::{bins, TestEnv};

const CONFFILE: &str = "/etc/store-agent/agent.toml";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs the packaging script on the release binary; returns the .deb it reports.
fn build_package(out_dir: &Path) -> PathBuf {
    let out = run(Command::new(repo_root().join("scripts/package-deb.sh"))
        .arg("--arch")
        .arg("amd64")
        .arg("--binary")
        .arg(bins::agent())
        .arg("--out")
        .arg(out_dir));
    let text = stdout(&out);
    let deb = PathBuf::from(
        text.lines()
            .last()
            .expect("the script prints the .deb path"),
    );
    assert!(deb.is_file(), "{} is not a file", deb.display());
    assert_eq!(deb.parent(), Some(out_dir), "{}", deb.display());
    deb
}

/// `dpkg-deb --contents`: path (without the leading `.`) → permission string, files only.
fn contents(deb: &Path) -> BTreeMap<String, String> {
    let listing = stdout(&run(Command::new("dpkg-deb").arg("--contents").arg(deb)));
    listing
        .lines()
        .filter(|l| !l.starts_with('d'))
        .map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            let path = fields.last().expect("path column");
            (
                path.trim_start_matches('.').to_string(),
                fields[0].to_string(),
            )
        })
        .collect()
}

/// Extracts the package's files and control files into `dir/root` and `dir/control`.
fn extract(deb: &Path, dir: &Path) -> (PathBuf, PathBuf) {
    let (root, control) = (dir.join("root"), dir.join("control"));
    run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&root));
    run(Command::new("dpkg-deb").arg("-e").arg(deb).arg(&control));
    (root, control)
}

/// `rwxr-xr-x`-style permission string for an octal mode such as `755`.
fn perm_string(octal: &str) -> String {
    let mode = u32::from_str_radix(octal, 8).unwrap_or_else(|e| panic!("mode {octal}: {e}"));
    (0..9)
        .map(|i| {
            let bit = 1 << (8 - i);
            if mode & bit == 0 {
                '-'
            } else {
                ['r', 'w', 'x'][i % 3]
            }
        })
        .collect()
}

/// `[package.metadata.deb]` of agent/Cargo.toml, the parts the script must agree with: the
/// assets as (source, destination path in the package, mode), the conf-files and the
/// maintainer-scripts directory. A small reader for our own file's layout (one asset per line).
struct DebMetadata {
    assets: Vec<(String, String, String)>,
    conf_files: Vec<String>,
    maintainer_scripts: String,
}

fn deb_metadata() -> DebMetadata {
    let text =
        std::fs::read_to_string(repo_root().join("agent/Cargo.toml")).expect("agent/Cargo.toml");
    let section = text
        .split("[package.metadata.deb]")
        .nth(1)
        .expect("agent/Cargo.toml has [package.metadata.deb]");
    let section = section.split("\n[").next().unwrap_or(section);
    let quoted = |line: &str| -> Vec<String> {
        line.split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    let mut assets = Vec::new();
    let mut conf_files = Vec::new();
    let mut maintainer_scripts = String::new();
    let mut in_assets = false;
    for line in section.lines().map(str::trim) {
        if line.starts_with("assets") {
            in_assets = true;
            continue;
        }
        if in_assets {
            if line.starts_with(']') {
                in_assets = false;
                continue;
            }
            let q = quoted(line);
            assert_eq!(q.len(), 3, "asset line {line:?}: want [source, dest, mode]");
            let (src, dest, mode) = (q[0].clone(), q[1].clone(), q[2].clone());
            let dest = if dest.ends_with('/') {
                let name = Path::new(&src).file_name().unwrap().to_string_lossy();
                format!("/{dest}{name}")
            } else {
                format!("/{dest}")
            };
            assets.push((src, dest, mode));
        } else if line.starts_with("conf-files") {
            conf_files = quoted(line);
        } else if line.starts_with("maintainer-scripts") {
            maintainer_scripts = quoted(line).remove(0);
        }
    }
    assert!(
        !assets.is_empty(),
        "no assets found in [package.metadata.deb]"
    );
    DebMetadata {
        assets,
        conf_files,
        maintainer_scripts,
    }
}

/// A `Key=value` of a unit file (the last one wins, as in systemd).
fn unit_value(unit: &str, key: &str) -> String {
    let prefix = format!("{key}=");
    unit.lines()
        .rev()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("the unit has no {key}="))
        .to_string()
}

#[test]
fn package_lists_the_files_conffile_and_control_fields() {
    let env = TestEnv::new("packaging-contents");
    let deb = build_package(env.path());
    let files = contents(&deb);
    env.log(format!("{}: {files:?}", deb.display()));
    for (path, perm) in [
        ("/usr/bin/store-agent", "-rwxr-xr-x"),
        ("/lib/systemd/system/store-agent.service", "-rw-r--r--"),
        ("/lib/udev/rules.d/70-store-scanners.rules", "-rw-r--r--"),
        (CONFFILE, "-rw-r--r--"),
        ("/usr/share/doc/store-agent/README.md", "-rw-r--r--"),
        ("/usr/share/doc/store-agent/copyright", "-rw-r--r--"),
    ] {
        assert_eq!(
            files.get(path).map(String::as_str),
            Some(perm),
            "{path} in {files:?}"
        );
    }
    // The journal directory belongs to systemd (StateDirectory=), not to the package.
    assert!(
        files.keys().all(|p| !p.starts_with("/var/")),
        "the package ships files under /var: {files:?}"
    );
    let listing = stdout(&run(Command::new("dpkg-deb").arg("--contents").arg(&deb)));
    for line in listing.lines() {
        assert!(line.contains(" root/root "), "not owned by root: {line}");
    }

    let info = stdout(&run(Command::new("dpkg-deb").arg("--info").arg(&deb)));
    for part in [
        "conffiles",
        "control",
        "md5sums",
        "postinst",
        "prerm",
        "postrm",
    ] {
        assert!(info.contains(part), "--info lacks {part}:\n{info}");
    }
    let conffiles = stdout(&run(Command::new("dpkg-deb")
        .arg("--info")
        .arg(&deb)
        .arg("conffiles")));
    assert_eq!(conffiles.lines().collect::<Vec<_>>(), [CONFFILE]);
    let field = |name: &str| {
        stdout(&run(Command::new("dpkg-deb").arg("-f").arg(&deb).arg(name)))
            .trim()
            .to_string()
    };
    assert_eq!(field("Package"), "store-agent");
    assert_eq!(field("Architecture"), "amd64");
    assert_eq!(field("Version"), env!("CARGO_PKG_VERSION"));
    assert!(
        field("Depends").starts_with("libc6 (>= 2."),
        "{}",
        field("Depends")
    );
    assert!(
        field("Depends").contains("adduser"),
        "postinst creates the store-agent user: {}",
        field("Depends")
    );
    assert!(
        deb.file_name().unwrap().to_string_lossy()
            == format!("store-agent_{}_amd64.deb", env!("CARGO_PKG_VERSION")),
        "{}",
        deb.display()
    );
}

#[test]
fn packaged_parts_fit_together_and_the_binary_runs() {
    let env = TestEnv::new("packaging-parts");
    let deb = build_package(&env.subdir("out"));
    let (root, control) = extract(&deb, env.path());

    // The packaged binary is the release build, stripped, and it runs.
    let bin = root.join("usr/bin/store-agent");
    let version = stdout(&run(Command::new(&bin).arg("--version")));
    assert_eq!(
        version.trim(),
        format!("store-agent {}", env!("CARGO_PKG_VERSION"))
    );
    let sections = stdout(&run(Command::new("readelf").arg("-S").arg(&bin)));
    assert!(
        !sections.contains(".symtab"),
        "the packaged binary is not stripped"
    );
    assert!(
        std::fs::metadata(&bin).unwrap().len() < std::fs::metadata(bins::agent()).unwrap().len(),
        "stripping did not make the binary smaller"
    );

    // The unit starts the agent on the conffile, and the conffile's state_dir is the directory
    // the unit's StateDirectory= creates.
    let unit =
        std::fs::read_to_string(root.join("lib/systemd/system/store-agent.service")).unwrap();
    let exec = unit_value(&unit, "ExecStart");
    assert_eq!(
        exec,
        format!("/usr/bin/store-agent run --config {CONFFILE}")
    );
    let state_dir = unit_value(&unit, "StateDirectory");
    let config = std::fs::read_to_string(root.join(CONFFILE.trim_start_matches('/'))).unwrap();
    assert!(
        config.contains(&format!("state_dir = \"/var/lib/{state_dir}\"")),
        "the packaged config's state_dir is not /var/lib/{state_dir}"
    );
    // And the packaged binary accepts the packaged config.
    run(Command::new(&bin)
        .arg("check-config")
        .arg(root.join(CONFFILE.trim_start_matches('/'))));

    // Maintainer scripts are valid sh and only touch systemd when it runs (no failure in a
    // chroot or container where it does not).
    for script in ["postinst", "prerm", "postrm"] {
        let path = control.join(script);
        run(Command::new("sh").arg("-n").arg(&path));
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.lines().filter(|l| !l.trim_start().starts_with('#'));
        for line in code.filter(|l| l.contains("systemctl ") && !l.contains("command -v")) {
            assert!(
                line.contains("|| true"),
                "{script}: unguarded `{}`",
                line.trim()
            );
        }
        assert!(
            text.contains("/run/systemd/system"),
            "{script} does not check for systemd"
        );
    }
    let md5sums = std::fs::read_to_string(control.join("md5sums")).unwrap();
    assert!(md5sums.contains("  usr/bin/store-agent"), "{md5sums}");
    assert!(
        md5sums.contains("  etc/store-agent/agent.toml"),
        "{md5sums}"
    );
}

#[test]
fn script_and_cargo_deb_metadata_agree() {
    let env = TestEnv::new("packaging-metadata");
    let meta = deb_metadata();
    let deb = build_package(&env.subdir("out"));
    let files = contents(&deb);
    let (root, control) = extract(&deb, env.path());
    for (src, dest, mode) in &meta.assets {
        assert_eq!(
            files.get(dest),
            Some(&format!("-{}", perm_string(mode))),
            "asset {src} -> {dest} ({mode}) in the script's package: {files:?}"
        );
        // Non-binary assets are copied byte for byte (the binary is stripped, as cargo-deb does).
        if !src.starts_with("target/") {
            let want = std::fs::read(repo_root().join("agent").join(src))
                .unwrap_or_else(|e| panic!("asset {src}: {e}"));
            let got = std::fs::read(root.join(dest.trim_start_matches('/'))).unwrap();
            assert!(want == got, "{dest} differs from {src}");
        }
    }
    let conffiles = std::fs::read_to_string(control.join("conffiles")).unwrap();
    assert_eq!(
        conffiles.lines().map(str::to_string).collect::<Vec<_>>(),
        meta.conf_files
    );
    let scripts_dir = repo_root().join("agent").join(&meta.maintainer_scripts);
    for script in ["postinst", "prerm", "postrm"] {
        let want = std::fs::read(scripts_dir.join(script))
            .unwrap_or_else(|e| panic!("{}/{script}: {e}", scripts_dir.display()));
        assert!(
            want == std::fs::read(control.join(script)).unwrap(),
            "{script} differs from packaging/deb/{script}"
        );
    }
}

#[test]
fn a_binary_for_another_architecture_is_refused() {
    let env = TestEnv::new("packaging-arch");
    let out = Command::new(repo_root().join("scripts/package-deb.sh"))
        .arg("--arch")
        .arg("arm64")
        .arg("--binary")
        .arg(bins::agent())
        .arg("--out")
        .arg(env.path())
        .output()
        .expect("run package-deb.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "an x86-64 binary was packaged as arm64"
    );
    assert!(stderr.contains("not arm64"), "{stderr}");
    assert!(
        std::fs::read_dir(env.path()).unwrap().next().is_none(),
        "a package was written anyway"
    );
}
