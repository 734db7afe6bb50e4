//! What `promote.yaml` says without touching the network: for shell completion, which must
//! answer in a blink and never prompt. It reads the file from the remote-tracking base branch as
//! the last fetch left it (`origin/main`, else `origin/master`), else from the working tree.
//! Commands that act never decide from this: they fetch and read the remote tip (`session`).
//! `rollback` uses it only to start its Argo CD reads during that fetch, keeping each read only
//! where the fetched file reaches the app the same way.

use std::path::Path;

use promote_core::config::{self, Config};
use promote_git::Repo;

/// The configuration as last fetched, or `None` when there is no repository or no readable
/// `promote.yaml` (completion then offers no environment names).
pub fn config(cwd: &Path) -> Option<Config> {
    let repo = Repo::discover(cwd).ok()?;
    for branch in ["main", "master"] {
        if let Ok(Some(tip)) = repo.remote_tip("origin", branch)
            && let Ok(Some(bytes)) = repo.read_file(tip, config::FILE_NAME)
        {
            let text = String::from_utf8(bytes).ok()?;
            return Config::parse(config::FILE_NAME, &text).ok();
        }
    }
    let text = std::fs::read_to_string(repo.workdir()?.join(config::FILE_NAME)).ok()?;
    Config::parse(config::FILE_NAME, &text).ok()
}

/// The environment names of [`config`], in file order.
pub fn environment_names(cwd: &Path) -> Vec<String> {
    config(cwd)
        .map(|c| c.environments.into_iter().map(|e| e.name).collect())
        .unwrap_or_default()
}
