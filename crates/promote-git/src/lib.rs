//! The git adapter: the only crate that links `git2`.
//!
//! The split follows cargo's `git-fetch-with-cli`: the network (fetch, push, clone) goes through
//! the `git` CLI, so credential helpers, `~/.ssh/config`, the ssh agent and `insteadOf` rewrites
//! work exactly as they do for `git push`; `git2` reads objects and builds blobs, trees and
//! commits in the object database, without ever touching the user's working tree, index or
//! branches. Signed commits go through `git commit-tree -S`, which honours `gpg.format`,
//! `user.signingKey` and the ssh/x509 signers as the user configured them; [`signature`] checks
//! signed commits against the keys a repository allows.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;

use git2::{ObjectType, Oid, Repository, Signature, Time};
use promote_core::Person;

mod materialize;
pub mod signature;
pub use materialize::{BadName, LinkEscape};

/// What a path in a tree is ([`Repo::path_entry`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    Dir,
    File,
    Symlink,
    /// A submodule or another entry whose content is not in this repository.
    Other,
}

impl PathKind {
    fn of(e: &git2::TreeEntry<'_>) -> PathKind {
        match (e.kind(), e.filemode()) {
            (Some(ObjectType::Tree), _) => PathKind::Dir,
            (Some(ObjectType::Blob), 0o120000) => PathKind::Symlink,
            (Some(ObjectType::Blob), _) => PathKind::File,
            // A submodule (commit entry): its content is not in this repository.
            _ => PathKind::Other,
        }
    }
}

/// A commit id (40 hex digits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommitId(Oid);

impl fmt::Display for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for CommitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CommitId({})", self.0)
    }
}

impl CommitId {
    pub fn short(&self) -> String {
        self.0.to_string()[..7].to_owned()
    }
}

impl FromStr for CommitId {
    type Err = GitError;
    fn from_str(s: &str) -> Result<Self, GitError> {
        Oid::from_str(s).map(CommitId).map_err(|e| GitError::Git {
            doing: format!("reading commit id `{s}`"),
            source: e,
        })
    }
}

/// What went wrong talking to git.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error(
        "{path}: not inside a git repository; run kubectl promote inside your GitOps repo or pass --repo PATH|URL"
    )]
    NotARepo { path: PathBuf },
    #[error(
        "git remote `{remote}` is not configured in {repo}; add it with `git remote add {remote} URL` or set git.remote in promote.yaml"
    )]
    NoRemote { remote: String, repo: PathBuf },
    #[error(
        "branch `{branch}` does not exist on remote `{remote}`; check git.baseBranch in promote.yaml"
    )]
    NoBranch { remote: String, branch: String },
    #[error("`git {args}` failed: {stderr}")]
    Cli { args: String, stderr: String },
    #[error("could not run `git`: {0}; is git installed and on PATH?")]
    Spawn(#[source] std::io::Error),
    #[error("{doing}")]
    Git {
        doing: String,
        #[source]
        source: git2::Error,
    },
    #[error(
        "refusing to use {commit}: its tree entry `{path}` {why}; git does not create such entries, so the commit was built by hand: fix or drop it (`receive.fsckObjects` on the remote refuses such pushes)"
    )]
    BadTreeEntry {
        commit: String,
        path: String,
        why: BadName,
    },
    #[error(
        "refusing to use {commit}: its tree holds two entries named `{path}` (git fsck: duplicateEntries); git does not create such trees, so the commit was built by hand: fix or drop it (`receive.fsckObjects` on the remote refuses such pushes)"
    )]
    DuplicateTreeEntry { commit: String, path: String },
    #[error(
        "refusing to use {commit}: the symlink `{path}` points to `{target}`, {why}; kubectl promote renders only what is inside the repository: point the symlink inside it, or copy the files in"
    )]
    SymlinkEscape {
        commit: String,
        path: String,
        target: String,
        why: LinkEscape,
    },
    #[error(
        "cannot write `{path}` over the tree of {commit}: {why}; an environment's overlay must be a directory of the tree (check its `overlay` in promote.yaml)"
    )]
    BadOverride {
        commit: String,
        path: String,
        why: String,
    },
    #[error("{doing}: {path}")]
    Io {
        doing: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn g(doing: impl FnOnce() -> String) -> impl FnOnce(git2::Error) -> GitError {
    move |source| GitError::Git {
        doing: doing(),
        source,
    }
}

/// How a push ended when git itself worked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    Pushed,
    /// The remote branch moved on: not a fast-forward. Nothing was written.
    Behind,
}

/// One commit, read back for `status`, `history` and rollback.
#[derive(Debug, Clone)]
pub struct CommitInfo {
    pub id: CommitId,
    pub author: Person,
    /// Seconds since the epoch (author time).
    pub time: i64,
    pub message: String,
    pub parents: Vec<CommitId>,
}

/// The commits that changed one path, newest first, from [`Repo::path_log`]: a first-parent
/// walk (merge commits compare against parent 1, so a merged PR counts as one change) that
/// compares the path's object id in each commit and its parent, carrying the parent's lookup
/// forward so each commit's tree is read once. It stops after `max_walk` commits, and at the
/// commit that created the path: before it the path did not exist, so no earlier state of it
/// can matter to a status, a history or a revert (an overlay deleted and re-created starts a
/// new history). Without that stop, an overlay added to a repository with 100,000 commits of
/// other history would be walked through all of them by every `history` and `rollback`.
pub struct PathLog<'r> {
    repo: &'r Repo,
    path: PathBuf,
    next: Option<Oid>,
    /// The path's id in `next`, when already read (as the previous commit's parent).
    here: Option<Option<Oid>>,
    walked: usize,
    max_walk: usize,
}

impl Iterator for PathLog<'_> {
    type Item = Result<CommitInfo, GitError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let oid = self.next.take()?;
            if self.walked >= self.max_walk {
                return None;
            }
            self.walked += 1;
            let c = match self.repo.repo.find_commit(oid) {
                Ok(c) => c,
                Err(e) => {
                    return Some(Err(GitError::Git {
                        doing: format!("reading commit {oid}"),
                        source: e,
                    }));
                }
            };
            let lookup = |t: Option<git2::Tree<'_>>| {
                t.and_then(|t| t.get_path(&self.path).ok().map(|e| e.id()))
            };
            let here = match self.here.take() {
                Some(h) => h,
                None => lookup(c.tree().ok()),
            };
            let parent = c.parents().next();
            let before = lookup(parent.as_ref().and_then(|p| p.tree().ok()));
            if here.is_some() && before.is_none() {
                // Created here: the walk ends with this change.
                return Some(self.repo.commit_info(CommitId(oid)));
            }
            self.next = parent.map(|p| p.id());
            self.here = Some(before);
            if here != before {
                return Some(self.repo.commit_info(CommitId(oid)));
            }
        }
    }
}

/// A repository: a user's checkout (we only read and add objects) or our cached clone.
pub struct Repo {
    repo: Repository,
    git_dir: PathBuf,
    interactive: bool,
}

impl fmt::Debug for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Repo")
            .field("git_dir", &self.git_dir)
            .finish()
    }
}

/// libgit2 re-hashes every object it reads (SHA-1 with collision detection) unless told not
/// to; git itself does not. Objects reach our repositories through the `git` CLI, which checks
/// them as it indexes what it fetched, so reading them again need not re-hash them: at 1,000
/// images, re-hashing the blobs of a render's scratch tree was most of a promotion's own time.
fn trust_the_object_store() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| git2::opts::strict_hash_verification(false));
}

impl Repo {
    /// The repository around `path` (like `git rev-parse --git-dir`).
    pub fn discover(path: &Path) -> Result<Repo, GitError> {
        trust_the_object_store();
        let repo = Repository::discover(path).map_err(|_| GitError::NotARepo {
            path: path.to_owned(),
        })?;
        let git_dir = repo.path().to_owned();
        Ok(Repo {
            repo,
            git_dir,
            interactive: false,
        })
    }

    /// Open the repository at a git dir found earlier (e.g. from another thread).
    pub fn open(git_dir: &Path) -> Result<Repo, GitError> {
        trust_the_object_store();
        let repo = Repository::open(git_dir).map_err(|_| GitError::NotARepo {
            path: git_dir.to_owned(),
        })?;
        Ok(Repo {
            repo,
            git_dir: git_dir.to_owned(),
            interactive: false,
        })
    }

    /// A bare clone of `url` cached under `cache_root`, created on first use and reused after.
    /// Its remote is called `origin`, with the usual `refs/remotes/origin/*` refspec.
    pub fn cached_clone(url: &str, cache_root: &Path) -> Result<Repo, GitError> {
        trust_the_object_store();
        use sha2::{Digest, Sha256};
        let key = hex::encode(&Sha256::digest(url.as_bytes())[..10]);
        let dir = cache_root.join("repos").join(key);
        if !dir.join("HEAD").exists() {
            std::fs::create_dir_all(&dir).map_err(|source| GitError::Io {
                doing: "creating the clone cache",
                path: dir.clone(),
                source,
            })?;
            run_git(&dir, &["init", "--bare", "--quiet"], true)?;
            run_git(&dir, &["remote", "add", "origin", url], true)?;
        }
        let repo = Repository::open_bare(&dir)
            .map_err(g(|| format!("opening the cached clone {}", dir.display())))?;
        Ok(Repo {
            repo,
            git_dir: dir,
            interactive: false,
        })
    }

    /// Let git ask for credentials on the terminal (only when a person is there).
    pub fn set_interactive(&mut self, interactive: bool) {
        self.interactive = interactive;
    }

    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }

    /// The working tree, if this is not a bare repository.
    pub fn workdir(&self) -> Option<&Path> {
        self.repo.workdir()
    }

    fn git(&self, args: &[&str]) -> Result<String, GitError> {
        run_git(&self.git_dir, args, self.interactive)
    }

    pub fn remote_url(&self, remote: &str) -> Result<String, GitError> {
        let r = self
            .repo
            .find_remote(remote)
            .map_err(|_| GitError::NoRemote {
                remote: remote.to_owned(),
                repo: self.git_dir.clone(),
            })?;
        r.url()
            .ok()
            .map(str::to_owned)
            .ok_or_else(|| GitError::NoRemote {
                remote: remote.to_owned(),
                repo: self.git_dir.clone(),
            })
    }

    /// `git fetch REMOTE` with its configured refspecs: updates remote-tracking refs only.
    pub fn fetch(&self, remote: &str) -> Result<(), GitError> {
        self.remote_url(remote)?;
        self.git(&[
            "fetch",
            "--quiet",
            "--prune",
            "--no-tags",
            "--no-write-fetch-head",
            remote,
        ])
        .map(drop)
    }

    /// The remote-tracking tip `refs/remotes/REMOTE/BRANCH`, if it exists.
    pub fn remote_tip(&self, remote: &str, branch: &str) -> Result<Option<CommitId>, GitError> {
        let name = format!("refs/remotes/{remote}/{branch}");
        match self.repo.refname_to_id(&name) {
            Ok(oid) => Ok(Some(CommitId(oid))),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(GitError::Git {
                doing: format!("reading {name}"),
                source: e,
            }),
        }
    }

    /// Resolve a revision expression (`HEAD~2`, a SHA, a ref) to a commit.
    pub fn resolve(&self, rev: &str) -> Result<CommitId, GitError> {
        let obj = self.repo.revparse_single(rev).map_err(g(|| {
            format!("no commit `{rev}` in {}", self.git_dir.display())
        }))?;
        let commit = obj
            .peel_to_commit()
            .map_err(g(|| format!("`{rev}` is not a commit")))?;
        Ok(CommitId(commit.id()))
    }

    /// The bytes of `path` at `commit`, or `None` when there is no such file.
    pub fn read_file(&self, commit: CommitId, path: &str) -> Result<Option<Vec<u8>>, GitError> {
        let tree = self.tree_of(commit)?;
        let entry = match tree.get_path(Path::new(path)) {
            Ok(e) => e,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(e) => {
                return Err(GitError::Git {
                    doing: format!("reading {path} at {commit}"),
                    source: e,
                });
            }
        };
        if entry.kind() != Some(ObjectType::Blob) {
            return Ok(None);
        }
        let blob = self
            .repo
            .find_blob(entry.id())
            .map_err(g(|| format!("reading {path} at {commit}")))?;
        Ok(Some(blob.content().to_vec()))
    }

    /// The id of the tree or blob at `path` (None when absent): equal ids mean equal content.
    pub fn path_id(&self, commit: CommitId, path: &str) -> Result<Option<String>, GitError> {
        let tree = self.tree_of(commit)?;
        if path.is_empty() {
            return Ok(Some(tree.id().to_string()));
        }
        Ok(tree
            .get_path(Path::new(path))
            .ok()
            .map(|e| e.id().to_string()))
    }

    /// What `path` is at `commit` and its object id: a directory, a regular file, a symlink, or
    /// `None` when absent (`""` is the root tree).
    pub fn path_entry(
        &self,
        commit: CommitId,
        path: &str,
    ) -> Result<Option<(PathKind, String)>, GitError> {
        let tree = self.tree_of(commit)?;
        if path.is_empty() {
            return Ok(Some((PathKind::Dir, tree.id().to_string())));
        }
        let Ok(e) = tree.get_path(Path::new(path)) else {
            return Ok(None);
        };
        Ok(Some((PathKind::of(&e), e.id().to_string())))
    }

    /// The entries of directory `dir` at `commit` with their kinds and ids (empty when `dir`
    /// is not a directory): one tree read for many [`Repo::path_entry`]-style lookups.
    pub fn dir_entries(
        &self,
        commit: CommitId,
        dir: &str,
    ) -> Result<BTreeMap<String, (PathKind, String)>, GitError> {
        let root = self.tree_of(commit)?;
        let tree = if dir.is_empty() {
            root
        } else {
            match root.get_path(Path::new(dir)) {
                Ok(e) if e.kind() == Some(ObjectType::Tree) => self
                    .repo
                    .find_tree(e.id())
                    .map_err(g(|| format!("reading {dir}")))?,
                _ => return Ok(BTreeMap::new()),
            }
        };
        Ok(tree
            .iter()
            .filter_map(|e| {
                Some((
                    e.name().ok()?.to_owned(),
                    (PathKind::of(&e), e.id().to_string()),
                ))
            })
            .collect())
    }

    /// Names in the directory `dir` at `commit` (files and directories), sorted.
    pub fn list_dir(&self, commit: CommitId, dir: &str) -> Result<Vec<(String, bool)>, GitError> {
        Ok(self
            .dir_entries(commit, dir)?
            .into_iter()
            .map(|(name, (kind, _))| (name, kind == PathKind::Dir))
            .collect())
    }

    /// Every file path at `commit`, for discovery (`init`).
    pub fn all_files(&self, commit: CommitId) -> Result<Vec<String>, GitError> {
        let tree = self.tree_of(commit)?;
        let mut out = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
            if entry.kind() == Some(ObjectType::Blob)
                && let Ok(name) = entry.name()
            {
                out.push(format!("{root}{name}"));
            }
            git2::TreeWalkResult::Ok
        })
        .map_err(g(|| format!("listing files at {commit}")))?;
        Ok(out)
    }

    fn tree_of(&self, commit: CommitId) -> Result<git2::Tree<'_>, GitError> {
        let c = self
            .repo
            .find_commit(commit.0)
            .map_err(g(|| format!("reading commit {commit}")))?;
        c.tree()
            .map_err(g(|| format!("reading the tree of {commit}")))
    }

    /// A new tree: `commit`'s tree with each `path` set to the bytes given (or removed for
    /// `None`). Only objects are written; no ref, index or file changes.
    pub fn tree_with(
        &self,
        commit: CommitId,
        changes: &BTreeMap<String, Option<Vec<u8>>>,
    ) -> Result<String, GitError> {
        let base = self.tree_of(commit)?;
        let mut update = git2::build::TreeUpdateBuilder::new();
        for (path, content) in changes {
            match content {
                Some(bytes) => {
                    let mode = match base.get_path(Path::new(path)) {
                        Ok(e) if e.filemode() == 0o100755 => git2::FileMode::BlobExecutable,
                        _ => git2::FileMode::Blob,
                    };
                    let blob = self
                        .repo
                        .blob(bytes)
                        .map_err(g(|| format!("writing {path}")))?;
                    update.upsert(path.as_str(), blob, mode);
                }
                None => {
                    update.remove(path.as_str());
                }
            }
        }
        let tree = update
            .create_updated(&self.repo, &base)
            .map_err(g(|| "writing the new tree".to_owned()))?;
        Ok(tree.to_string())
    }

    /// The id that the tree at `dir` of `commit` gets with each repo path of `changes` set to
    /// the bytes given, as [`Repo::tree_with`] would write it, computed without writing any
    /// object. Render cache keys use it so that a tree rendered with an edit and the commit
    /// that later holds that edit share a key. Changes outside `dir` are ignored; `None` when
    /// `dir` is not a directory at `commit` and no change creates it.
    pub fn tree_id_with(
        &self,
        commit: CommitId,
        dir: &str,
        changes: &BTreeMap<String, Vec<u8>>,
    ) -> Result<Option<String>, GitError> {
        let root = self.tree_of(commit)?;
        let tree = if dir.is_empty() {
            Some(root)
        } else {
            match root.get_path(Path::new(dir)) {
                Ok(e) if e.kind() == Some(ObjectType::Tree) => Some(
                    self.repo
                        .find_tree(e.id())
                        .map_err(g(|| format!("reading {dir} at {commit}")))?,
                ),
                _ => None,
            }
        };
        let below: BTreeMap<&str, &[u8]> = changes
            .iter()
            .filter_map(|(path, bytes)| {
                let rel = if dir.is_empty() {
                    path.as_str()
                } else {
                    path.strip_prefix(dir)?.strip_prefix('/')?
                };
                Some((rel, bytes.as_slice()))
            })
            .collect();
        if tree.is_none() && below.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.hash_tree(tree.as_ref(), &below)?.to_string()))
    }

    /// The id of `tree` (or of an empty tree) with `changes` (paths relative to it) applied:
    /// the entries serialized as git writes a tree object, then hashed.
    fn hash_tree(
        &self,
        tree: Option<&git2::Tree<'_>>,
        changes: &BTreeMap<&str, &[u8]>,
    ) -> Result<Oid, GitError> {
        const DIR: i32 = 0o040000;
        if let (Some(t), true) = (tree, changes.is_empty()) {
            return Ok(t.id());
        }
        let mut entries: BTreeMap<Vec<u8>, (i32, Oid)> = tree
            .map(|t| {
                t.iter()
                    .map(|e| (e.name_bytes().to_vec(), (e.filemode(), e.id())))
                    .collect()
            })
            .unwrap_or_default();
        let mut below: BTreeMap<&str, BTreeMap<&str, &[u8]>> = BTreeMap::new();
        for (rel, bytes) in changes {
            match rel.split_once('/') {
                Some((first, rest)) => {
                    below.entry(first).or_default().insert(rest, bytes);
                }
                None => {
                    // The mode `tree_with` gives: executable stays executable, all else a file.
                    let mode = match entries.get(rel.as_bytes()) {
                        Some((0o100755, _)) => 0o100755,
                        _ => 0o100644,
                    };
                    let id = Oid::hash_object(ObjectType::Blob, bytes)
                        .map_err(g(|| format!("hashing {rel}")))?;
                    entries.insert(rel.as_bytes().to_vec(), (mode, id));
                }
            }
        }
        for (name, changes) in below {
            let sub = match entries.get(name.as_bytes()) {
                Some((DIR, id)) => Some(
                    self.repo
                        .find_tree(*id)
                        .map_err(g(|| format!("reading {name}")))?,
                ),
                _ => None,
            };
            let id = self.hash_tree(sub.as_ref(), &changes)?;
            entries.insert(name.as_bytes().to_vec(), (DIR, id));
        }
        // Git orders entries by name, a directory's name compared as if it ended in `/`.
        let mut sorted: Vec<(Vec<u8>, (i32, Oid))> = entries.into_iter().collect();
        let key = |(name, (mode, _)): &(Vec<u8>, (i32, Oid))| {
            let mut k = name.clone();
            if *mode == DIR {
                k.push(b'/');
            }
            k
        };
        sorted.sort_by_key(key);
        let mut buf = Vec::new();
        for (name, (mode, id)) in sorted {
            buf.extend_from_slice(format!("{mode:o} ").as_bytes());
            buf.extend_from_slice(&name);
            buf.push(0);
            buf.extend_from_slice(id.as_bytes());
        }
        Oid::hash_object(ObjectType::Tree, &buf).map_err(g(|| "hashing a tree".to_owned()))
    }

    /// Write a commit object (no ref moves). `sign` makes it through `git commit-tree -S`.
    pub fn commit(
        &self,
        tree: &str,
        parents: &[CommitId],
        author: &Person,
        committer: &Person,
        message: &str,
        sign: bool,
    ) -> Result<CommitId, GitError> {
        let now = Time::new(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
            0,
        );
        if sign {
            let mut args: Vec<String> = vec!["commit-tree".into(), "-S".into(), tree.to_owned()];
            for p in parents {
                args.push("-p".into());
                args.push(p.to_string());
            }
            args.push("-F".into());
            args.push("-".into());
            let out = Command::new("git")
                .arg("--git-dir")
                .arg(&self.git_dir)
                .args(&args)
                .env("GIT_AUTHOR_NAME", &author.name)
                .env("GIT_AUTHOR_EMAIL", &author.email)
                .env("GIT_COMMITTER_NAME", &committer.name)
                .env("GIT_COMMITTER_EMAIL", &committer.email)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .and_then(|mut child| {
                    use std::io::Write;
                    child
                        .stdin
                        .take()
                        .expect("piped")
                        .write_all(message.as_bytes())?;
                    child.wait_with_output()
                })
                .map_err(GitError::Spawn)?;
            if !out.status.success() {
                return Err(GitError::Cli {
                    args: "commit-tree -S (commit.gpgsign is set)".into(),
                    stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                });
            }
            return String::from_utf8_lossy(&out.stdout).trim().parse();
        }
        let tree = self
            .repo
            .find_tree(Oid::from_str(tree).map_err(g(|| "tree id".into()))?)
            .map_err(g(|| "reading the new tree".into()))?;
        let a = Signature::new(&author.name, &author.email, &now)
            .map_err(g(|| format!("author `{}`", author)))?;
        let c = Signature::new(&committer.name, &committer.email, &now)
            .map_err(g(|| format!("committer `{}`", committer)))?;
        let parents: Vec<git2::Commit<'_>> = parents
            .iter()
            .map(|p| self.repo.find_commit(p.0))
            .collect::<Result<_, _>>()
            .map_err(g(|| "reading parents".into()))?;
        let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
        let oid = self
            .repo
            .commit(None, &a, &c, message, &tree, &refs)
            .map_err(g(|| "writing the commit".into()))?;
        Ok(CommitId(oid))
    }

    /// `git push REMOTE SHA:refs/heads/BRANCH`: a fast-forward or nothing. Never forced.
    pub fn push(
        &self,
        remote: &str,
        commit: CommitId,
        branch: &str,
    ) -> Result<PushOutcome, GitError> {
        self.push_refspecs(remote, &[format!("{commit}:refs/heads/{branch}")])
    }

    /// Push several refspecs atomically (all or none), never forced.
    pub fn push_refspecs(
        &self,
        remote: &str,
        refspecs: &[String],
    ) -> Result<PushOutcome, GitError> {
        let mut args = vec!["push", "--porcelain", "--atomic", remote];
        args.extend(refspecs.iter().map(String::as_str));
        let out = git_output(&self.git_dir, &args, self.interactive)?;
        if out.status.success() {
            return Ok(PushOutcome::Pushed);
        }
        // Behind: the remote refused a non-fast-forward, or lost the race at its ref update
        // (`[remote rejected] … (atomic transaction failed)` and `cannot lock ref … but expected`
        // come on different lines), or another push held the ref's lock at that moment
        // (`cannot lock ref …: Unable to create '….lock': File exists`): the caller re-fetches
        // and decides again, which is right in every case.
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let rejected = text.lines().any(|l| {
            l.contains("[rejected]")
                && (l.contains("non-fast-forward")
                    || l.contains("fetch first")
                    || l.contains("stale info"))
        });
        let lost_lock = text.contains("[remote rejected]")
            && text.contains("cannot lock ref")
            && (text.contains("but expected") || text.contains("File exists"));
        if rejected || lost_lock {
            return Ok(PushOutcome::Behind);
        }
        Err(GitError::Cli {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }

    /// Delete a remote branch (only branches we created).
    pub fn delete_remote_branch(&self, remote: &str, branch: &str) -> Result<(), GitError> {
        self.git(&["push", "--quiet", remote, &format!(":refs/heads/{branch}")])
            .map(drop)
    }

    /// Write `commit`'s tree into `root`, an empty scratch directory (for rendering), without
    /// touching any index: the whole tree, or with `only`, just those directories (repo paths,
    /// `""` = everything); then each of `overrides` (repo path → bytes) over it. The tree is
    /// hostile input: everything is checked before anything is written (the `materialize`
    /// module says how), and nothing is written outside `root`.
    pub fn materialize(
        &self,
        commit: CommitId,
        root: &Path,
        only: Option<&[String]>,
        overrides: &BTreeMap<String, Vec<u8>>,
    ) -> Result<(), GitError> {
        let tree = self.tree_of(commit)?;
        let plan = materialize::Plan::read(&self.repo, commit, &tree, only, overrides)?;
        materialize::write(&self.repo, commit, &plan, root)
    }

    /// Adds `text` to the note of `commit` under `notes_ref` (appended to a note already there)
    /// and pushes the notes ref, re-fetching it and trying again when another push got there
    /// first. The remote's notes are fetched into the local ref first (forced: the remote is
    /// the record).
    pub fn add_note(
        &self,
        remote: &str,
        notes_ref: &str,
        commit: CommitId,
        text: &str,
        who: &Person,
    ) -> Result<(), GitError> {
        for _ in 0..5 {
            self.fetch_refspec(remote, &format!("+{notes_ref}:{notes_ref}"))?;
            let old = self
                .repo
                .find_note(Some(notes_ref), commit.0)
                .ok()
                .and_then(|n| n.message().ok().map(str::to_owned));
            let body = match old {
                Some(old) if !old.trim().is_empty() => format!("{}\n{text}\n", old.trim_end()),
                _ => format!("{text}\n"),
            };
            let sig = Signature::now(&who.name, &who.email)
                .map_err(g(|| "making the note's signature".into()))?;
            self.repo
                .note(&sig, &sig, Some(notes_ref), commit.0, &body, true)
                .map_err(g(|| {
                    format!("writing the note of {commit} under {notes_ref}")
                }))?;
            match self.push_refspecs(remote, &[format!("{notes_ref}:{notes_ref}")])? {
                PushOutcome::Pushed => return Ok(()),
                PushOutcome::Behind => continue,
            }
        }
        Err(GitError::Cli {
            args: format!("push {remote} {notes_ref}"),
            stderr: "other pushes kept moving the notes ref; try again".into(),
        })
    }

    /// `user.name` / `user.email` from git config (repo, then global).
    pub fn config_person(&self) -> Option<Person> {
        let cfg = self.repo.config().ok()?;
        let name = cfg.get_string("user.name").ok()?;
        let email = cfg.get_string("user.email").ok()?;
        Some(Person { name, email })
    }

    pub fn config_bool(&self, key: &str) -> bool {
        self.repo
            .config()
            .ok()
            .and_then(|c| c.get_bool(key).ok())
            .unwrap_or(false)
    }

    pub fn commit_info(&self, id: CommitId) -> Result<CommitInfo, GitError> {
        let c = self
            .repo
            .find_commit(id.0)
            .map_err(g(|| format!("reading commit {id}")))?;
        let author = c.author();
        Ok(CommitInfo {
            id,
            author: Person {
                name: author.name().unwrap_or("").to_owned(),
                email: author.email().unwrap_or("").to_owned(),
            },
            time: author.when().seconds(),
            message: c.message().unwrap_or("").to_owned(),
            parents: c.parent_ids().map(CommitId).collect(),
        })
    }

    /// Commits reachable from `from` (first parents only, as `git log --first-parent`) that
    /// changed `path`, newest first, at most `limit`, visiting at most `max_walk` commits.
    /// The walk ends at the commit that created `path` (see [`PathLog`]).
    pub fn log_path(
        &self,
        from: CommitId,
        path: &str,
        limit: usize,
        max_walk: usize,
    ) -> Result<Vec<CommitInfo>, GitError> {
        self.path_log(from, path, max_walk).take(limit).collect()
    }

    /// The changes of `path` from `from` back, lazily: a caller that finds what it looks for
    /// stops the walk there, so a deep history is only read as far as it is needed.
    pub fn path_log<'r>(&'r self, from: CommitId, path: &str, max_walk: usize) -> PathLog<'r> {
        PathLog {
            repo: self,
            path: PathBuf::from(path),
            next: Some(from.0),
            here: None,
            walked: 0,
            max_walk,
        }
    }

    /// Is `ancestor` reachable from `descendant` (or equal)?
    pub fn is_ancestor(&self, ancestor: CommitId, descendant: CommitId) -> bool {
        ancestor == descendant
            || self
                .repo
                .graph_descendant_of(descendant.0, ancestor.0)
                .unwrap_or(false)
    }

    /// The id of the empty tree, written to the object database: the tree of record-only
    /// commits (approvals), which carry their content in the message.
    pub fn empty_tree(&self) -> Result<String, GitError> {
        let builder = self
            .repo
            .treebuilder(None)
            .map_err(g(|| "building the empty tree".to_owned()))?;
        let oid = builder
            .write()
            .map_err(g(|| "writing the empty tree".to_owned()))?;
        Ok(oid.to_string())
    }

    /// Fetch one branch of `remote` into `refs/remotes/REMOTE/BRANCH` (whatever the configured
    /// refspecs say) and return its tip; `None` when the remote has no such branch (then a
    /// stale remote-tracking ref is removed, as `--prune` would).
    pub fn fetch_branch(&self, remote: &str, branch: &str) -> Result<Option<CommitId>, GitError> {
        let refspec = format!("+refs/heads/{branch}:refs/remotes/{remote}/{branch}");
        if !self.fetch_refspec(remote, &refspec)? {
            let name = format!("refs/remotes/{remote}/{branch}");
            if let Ok(mut r) = self.repo.find_reference(&name) {
                let _ = r.delete();
            }
            return Ok(None);
        }
        self.remote_tip(remote, branch)
    }

    /// Commits reachable from `from` along first parents (as `git log --first-parent`), newest
    /// first, at most `limit`.
    pub fn first_parent_log(
        &self,
        from: CommitId,
        limit: usize,
    ) -> Result<Vec<CommitInfo>, GitError> {
        let mut out = Vec::new();
        let mut cur = Some(from.0);
        while let Some(oid) = cur {
            if out.len() >= limit {
                break;
            }
            let c = self
                .repo
                .find_commit(oid)
                .map_err(g(|| format!("reading commit {oid}")))?;
            cur = c.parent_ids().next();
            out.push(self.commit_info(CommitId(oid))?);
        }
        Ok(out)
    }

    /// The best common ancestor of two commits (`git merge-base A B`), if they share history.
    pub fn merge_base(&self, a: CommitId, b: CommitId) -> Result<Option<CommitId>, GitError> {
        match self.repo.merge_base(a.0, b.0) {
            Ok(oid) => Ok(Some(CommitId(oid))),
            Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(e) => Err(GitError::Git {
                doing: format!("finding the merge base of {a} and {b}"),
                source: e,
            }),
        }
    }

    /// Fetch one ref of `remote` (e.g. `refs/pull/7/head`) into the local ref `into` (git CLI,
    /// so credentials work as for `git fetch`) and return its commit; `None` when the remote
    /// has no such ref.
    pub fn fetch_ref(
        &self,
        remote: &str,
        src: &str,
        into: &str,
    ) -> Result<Option<CommitId>, GitError> {
        if !self.fetch_refspec(remote, &format!("+{src}:{into}"))? {
            return Ok(None);
        }
        let oid = self
            .repo
            .refname_to_id(into)
            .map_err(g(|| format!("reading {into} after fetching {src}")))?;
        Ok(Some(CommitId(oid)))
    }

    /// `git fetch REMOTE REFSPEC` without tags or FETCH_HEAD: `false` when the remote has no
    /// such ref, any other failure an error.
    fn fetch_refspec(&self, remote: &str, refspec: &str) -> Result<bool, GitError> {
        self.remote_url(remote)?;
        let args = [
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            remote,
            refspec,
        ];
        let out = git_output(&self.git_dir, &args, self.interactive)?;
        if out.status.success() {
            return Ok(true);
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stderr.contains("couldn't find remote ref") {
            return Ok(false);
        }
        Err(GitError::Cli {
            args: args.join(" "),
            stderr: stderr.trim().to_owned(),
        })
    }
}

fn git_output(
    git_dir: &Path,
    args: &[&str],
    interactive: bool,
) -> Result<std::process::Output, GitError> {
    let mut cmd = Command::new("git");
    cmd.arg("--git-dir")
        .arg(git_dir)
        .args(args)
        .stdin(Stdio::null());
    if !interactive {
        // Never hang waiting for a password nobody can type.
        cmd.env("GIT_TERMINAL_PROMPT", "0");
    }
    cmd.output().map_err(GitError::Spawn)
}

fn run_git(git_dir: &Path, args: &[&str], interactive: bool) -> Result<String, GitError> {
    let out = git_output(git_dir, args, interactive)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(GitError::Cli {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tree_id_with` computes, without writing, the ids `tree_with` writes: for the root and
    /// for a directory, with files changed, added in a new directory, and a name that sorts
    /// between a file and a directory (`a.b`, `a/`, `a-c/`).
    #[test]
    fn tree_id_with_is_the_id_tree_with_writes() {
        let mut kit = promote_testkit::repo::GitOps::new()
            .file("a/k.yaml", "x\n")
            .file("a/b/c.txt", "y\n")
            .file("a.b", "z\n")
            .file("a-c/d", "w\n");
        let sha = kit.commit("seed");
        let repo = Repo::open(&kit.origin).unwrap();
        let head = repo.resolve(&sha).unwrap();
        let cases: [&[(&str, &str)]; 4] = [
            &[("a/k.yaml", "x2\n")],
            &[("a/b/c.txt", "y2\n"), ("a/new/f", "n\n")],
            &[("new.txt", "q\n"), ("a.b", "z2\n"), ("a/b/c.txt", "y3\n")],
            &[],
        ];
        for case in cases {
            let changes: BTreeMap<String, Vec<u8>> = case
                .iter()
                .map(|(p, c)| ((*p).to_owned(), c.as_bytes().to_vec()))
                .collect();
            let written = repo
                .tree_with(
                    head,
                    &changes
                        .iter()
                        .map(|(p, c)| (p.clone(), Some(c.clone())))
                        .collect(),
                )
                .unwrap();
            assert_eq!(
                repo.tree_id_with(head, "", &changes).unwrap().as_deref(),
                Some(written.as_str()),
                "{case:?}"
            );
            let tree = repo
                .repo
                .find_tree(Oid::from_str(&written).unwrap())
                .unwrap();
            let a = tree.get_path(Path::new("a")).unwrap().id().to_string();
            assert_eq!(
                repo.tree_id_with(head, "a", &changes).unwrap(),
                Some(a),
                "{case:?}"
            );
        }
        assert_eq!(
            repo.tree_id_with(head, "nowhere", &BTreeMap::new())
                .unwrap(),
            None
        );
    }
}
