//! Scratch directories: each is created mode 0700 in `$TMPDIR`, removed when dropped, and listed
//! in a process-wide registry while it lives. A drop does not run when a signal ends the process,
//! so the binary's SIGINT/SIGTERM handler (installed through [`on_first_use`]) calls
//! [`remove_all`] before it exits: an interrupted promotion leaves no `kubectl-promote-*`
//! directory behind (SIGKILL still can; nothing can stop that, and the directories are then only
//! ever scratch copies of git objects).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, Once, OnceLock};

/// The scratch directories alive in this process.
static LIVE: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Run once before the first scratch directory is made ([`on_first_use`]).
static FIRST_USE: OnceLock<fn()> = OnceLock::new();

/// Have `hook` run once, before the first scratch directory of the process is created: the
/// binary installs its signal handler there, so the commands that never make one (`status`,
/// `version`, `policy eval`) do not pay for it at start-up (~0.1 ms, a thread and three
/// `sigaction`s).
pub fn on_first_use(hook: fn()) {
    let _ = FIRST_USE.set(hook);
}

fn live() -> MutexGuard<'static, BTreeSet<PathBuf>> {
    // A panic while the set was held leaves it whole (inserts and removes are single steps).
    LIVE.lock().unwrap_or_else(|p| p.into_inner())
}

/// A directory `$TMPDIR/kubectl-promote-<what>-XXXXXX`, mode 0700, removed with its content on
/// drop (and by [`remove_all`]).
#[derive(Debug)]
pub struct ScratchDir {
    /// `None` only while dropping.
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl ScratchDir {
    /// Create one; `what` names its use (`render`).
    pub fn new(what: &str) -> std::io::Result<ScratchDir> {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            if let Some(hook) = FIRST_USE.get() {
                hook();
            }
        });
        let prefix = format!("kubectl-promote-{what}-");
        let mut b = tempfile::Builder::new();
        b.prefix(&prefix);
        #[cfg(unix)]
        b.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
        // Created and listed under the lock, so a signal handler that holds it either sees the
        // directory or runs before it exists.
        let mut live = live();
        let dir = b.tempdir()?;
        let path = dir.path().to_owned();
        live.insert(path.clone());
        Ok(ScratchDir {
            dir: Some(dir),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        // Removed, then unlisted, under the lock: a signal handler never finds it unlisted but
        // still there.
        let mut live = live();
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
        live.remove(&self.path);
    }
}

/// The registry, held: no scratch directory can be created while this lives.
#[must_use = "hold it until the process exits, so no new scratch directory appears"]
pub struct Cleared {
    _held: MutexGuard<'static, BTreeSet<PathBuf>>,
}

/// Remove every live scratch directory, for a signal handler that then exits the process while
/// it holds the returned guard. Another thread may still be writing into a directory as it is
/// removed; a removal that finds new entries is retried, and once a directory is gone nothing
/// can be written below it.
pub fn remove_all() -> Cleared {
    let mut live = live();
    for dir in std::mem::take(&mut *live) {
        for _ in 0..100 {
            match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => continue,
                _ => break,
            }
        }
    }
    Cleared { _held: live }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_dirs_are_private_listed_and_removed() {
        let a = ScratchDir::new("test").unwrap();
        let path = a.path().to_owned();
        assert!(
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("kubectl-promote-test-")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        assert!(live().contains(&path));
        drop(a);
        assert!(!path.exists());
        assert!(!live().contains(&path));
    }
}
