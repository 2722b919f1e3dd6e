//! Running the agent under libfaketime (Debian package `faketime`) with a wall-clock offset the
//! test changes while it runs: the offset file is re-read on every clock call
//! (`FAKETIME_TIMESTAMP_FILE` + `FAKETIME_NO_CACHE=1`) while CLOCK_MONOTONIC stays real
//! (`FAKETIME_DONT_FAKE_MONOTONIC=1`).

use std::path::{Path, PathBuf};

use crate::Agent;

/// libfaketime's multi-threaded variant (the agent runs tokio worker threads): `FAKETIME_LIB`,
/// or where Debian's package puts it.
pub fn libfaketime() -> PathBuf {
    if let Some(p) = std::env::var_os("FAKETIME_LIB") {
        return PathBuf::from(p);
    }
    let found = std::fs::read_dir("/usr/lib").ok().and_then(|dirs| {
        dirs.filter_map(Result::ok)
            .map(|d| d.path().join("faketime/libfaketimeMT.so.1"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "libfaketimeMT.so.1 not found under /usr/lib/*/faketime/ (set FAKETIME_LIB). Install \
             it with `apt-get install faketime`, or run scripts/test.sh, which does."
        )
    })
}

/// Sets the clock offset as libfaketime reads it (`+0`, `-1h`, `+23h`). Written to a temporary
/// file and renamed, so the agent never reads half a line.
pub fn set_offset(file: &Path, offset: &str) {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, format!("{offset}\n")).expect("write offset");
    std::fs::rename(&tmp, file).expect("rename offset file");
}

/// Makes the agent's next starts run under libfaketime with the offset in `offset_file`
/// (written now as `+0`).
pub fn attach(agent: &mut Agent, offset_file: &Path) {
    set_offset(offset_file, "+0");
    agent
        .env("LD_PRELOAD", libfaketime())
        .env("FAKETIME_TIMESTAMP_FILE", offset_file)
        .env("FAKETIME_NO_CACHE", "1")
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
}
