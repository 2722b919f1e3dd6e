//! The files of a backup: digests, copies and fsyncs.
//!
//! A backup's files are never opened by sled once written, so a digest of each one catches a
//! flipped byte anywhere, including in parts of sled's log that its own checks would skip.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::manifest::FileDigest;
use super::BackupError;

/// Every regular file under `root`, as paths relative to it with `/` separators, sorted.
/// Anything else (a symlink, a device) is refused: sled writes only files and directories.
pub fn list(root: &Path) -> Result<Vec<String>, BackupError> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        for entry in std::fs::read_dir(&dir).map_err(BackupError::io(&dir))? {
            let entry = entry.map_err(BackupError::io(&dir))?;
            let kind = entry.file_type().map_err(BackupError::io(entry.path()))?;
            let name = rel.join(entry.file_name());
            if kind.is_dir() {
                stack.push(name);
            } else if kind.is_file() {
                let text = name.to_str().ok_or_else(|| {
                    BackupError::Refused(format!("{}: not a UTF-8 file name", name.display()))
                })?;
                out.push(text.to_owned());
            } else {
                return Err(BackupError::Refused(format!(
                    "{}: neither a file nor a directory",
                    entry.path().display()
                )));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The SHA-256 and size of each file under `root` (see [`list`]); paths carry `prefix`.
pub fn digests(root: &Path, prefix: &str) -> Result<Vec<FileDigest>, BackupError> {
    list(root)?
        .into_iter()
        .map(|rel| {
            let path = root.join(&rel);
            let (bytes, sha256) = digest_file(&path)?;
            Ok(FileDigest {
                path: format!("{prefix}{rel}"),
                bytes,
                sha256,
            })
        })
        .collect()
}

fn digest_file(path: &Path) -> Result<(u64, String), BackupError> {
    let mut file = File::open(path).map_err(BackupError::io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(BackupError::io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((total, hex(&hasher.finalize())))
}

/// Copies the tree `from` to `to` (which must not exist) and fsyncs what it wrote.
pub fn copy_tree(from: &Path, to: &Path) -> Result<(), BackupError> {
    std::fs::create_dir(to).map_err(BackupError::io(to))?;
    for rel in list(from)? {
        let target = to.join(&rel);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(BackupError::io(parent))?;
        }
        std::fs::copy(from.join(&rel), &target).map_err(BackupError::io(&target))?;
    }
    sync_tree(to)
}

/// fsyncs every file and directory under `root`, and `root` itself.
pub fn sync_tree(root: &Path) -> Result<(), BackupError> {
    for rel in list(root)? {
        let path = root.join(rel);
        File::open(&path)
            .and_then(|f| f.sync_all())
            .map_err(BackupError::io(&path))?;
    }
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).map_err(BackupError::io(&dir))? {
            let entry = entry.map_err(BackupError::io(&dir))?;
            if entry
                .file_type()
                .map_err(BackupError::io(entry.path()))?
                .is_dir()
            {
                dirs.push(entry.path());
            }
        }
        sync_dir(&dir)?;
    }
    Ok(())
}

/// fsyncs a directory, so the entries created or renamed in it survive a power cut.
pub fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(BackupError::io(dir))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
