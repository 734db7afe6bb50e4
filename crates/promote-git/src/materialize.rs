//! Writing a commit's tree into a scratch directory ([`Repo::materialize`](crate::Repo::materialize))
//! when the tree is hostile input: a pull request or a hand-made commit can hold entries no
//! `git add` makes (`..`, `a/b`, `.git`, two entries of one name; `git mktree` and
//! `hash-object --literally` build them, and a remote without `receive.fsckObjects` takes them).
//!
//! So the writing is done in two steps. First the tree is read into a [`Plan`]: every entry name
//! of every tree read is checked as `git fsck` checks it ([`EntryName::new`]), duplicates are
//! refused, the files to write over the tree are placed, and every symlink is resolved against
//! the tree's own symlinks and refused if it leads out of the root. Only then is anything written,
//! and only through [`TreePath`], a path made of checked names below the root: there is no other
//! way here to get a path to write, so no write can land outside the root. Files are created with
//! `create_new` (an existing file or symlink in the way is an error, never followed), directories
//! one level at a time, and symlinks last, when nothing more is written through them; then each
//! symlink's real path is checked once more, for file systems that treat names the tree keeps
//! apart as one (case-insensitive APFS).

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid, Repository};

use crate::{CommitId, GitError};

/// Why git's fsck (and so this tool) refuses a tree entry's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadName {
    /// fsck `emptyName`.
    Empty,
    /// fsck `hasDot`.
    Dot,
    /// fsck `hasDotdot`.
    DotDot,
    /// fsck `fullPathname`.
    Slash,
    /// A name cannot hold NUL in git's tree format; one that does was not made by git.
    Nul,
    /// fsck `hasDotgit`: `.git` in any case, or a name NTFS or HFS+ treat as `.git`.
    DotGit,
}

impl fmt::Display for BadName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BadName::Empty => "has an empty name (git fsck: emptyName)",
            BadName::Dot => "is named `.` (git fsck: hasDot)",
            BadName::DotDot => "is named `..` (git fsck: hasDotdot)",
            BadName::Slash => "has a `/` in its name (git fsck: fullPathname)",
            BadName::Nul => "has a NUL byte in its name",
            BadName::DotGit => {
                "is named `.git` or a name NTFS or HFS+ read as `.git` (git fsck: hasDotgit)"
            }
        })
    }
}

/// One checked tree entry name: a single path component that is not empty, `.` or `..`, holds
/// no `/` or NUL, and is not `.git` or one of its aliases. Joining it to a directory always
/// names a child of that directory.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryName(Box<[u8]>);

impl fmt::Debug for EntryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryName({:?})", String::from_utf8_lossy(&self.0))
    }
}

impl EntryName {
    /// Check `name` as `git fsck` checks a tree entry's name.
    pub fn new(name: &[u8]) -> Result<EntryName, BadName> {
        match name {
            [] => return Err(BadName::Empty),
            b"." => return Err(BadName::Dot),
            b".." => return Err(BadName::DotDot),
            _ => {}
        }
        if name.contains(&b'/') {
            return Err(BadName::Slash);
        }
        if name.contains(&0) {
            return Err(BadName::Nul);
        }
        // fsck checks the whole name, and on a backslash also what follows it: Windows reads
        // `a\.git` as a path into `.git`.
        let dotgit = is_hfs_dotgit(name)
            || is_ntfs_dotgit(name)
            || name
                .iter()
                .enumerate()
                .any(|(i, &b)| b == b'\\' && is_ntfs_dotgit(&name[i + 1..]));
        if dotgit {
            return Err(BadName::DotGit);
        }
        Ok(EntryName(name.into()))
    }

    fn os(&self) -> OsString {
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            std::ffi::OsStr::from_bytes(&self.0).to_owned()
        }
        #[cfg(not(unix))]
        {
            // Two names that differ only in invalid UTF-8 collide here; `create_new` then
            // refuses the second, so a collision is an error, never an overwrite.
            OsString::from(String::from_utf8_lossy(&self.0).into_owned())
        }
    }
}

/// NTFS reads `.git` followed by dots and spaces, the 8.3 short name `git~1`, and any alternate
/// data stream of them (`.git::$INDEX_ALLOCATION`) as `.git` (git's `is_ntfs_dotgit`).
fn is_ntfs_dotgit(name: &[u8]) -> bool {
    let rest = if name.len() >= 4 && name[..4].eq_ignore_ascii_case(b".git") {
        &name[4..]
    } else if name.len() >= 5 && name[..5].eq_ignore_ascii_case(b"git~1") {
        &name[5..]
    } else {
        return false;
    };
    for &b in rest {
        match b {
            b'\\' | b'/' | b':' => return true,
            b'.' | b' ' => {}
            _ => return false,
        }
    }
    true
}

/// HFS+ ignores some code points in names, so `.g\u{200c}it` is `.git` there (git's
/// `is_hfs_dotgit`; a name that is not UTF-8 cannot be `.git` on HFS+).
fn is_hfs_dotgit(name: &[u8]) -> bool {
    let Ok(name) = std::str::from_utf8(name) else {
        return false;
    };
    let ignorable = |c: &char| {
        matches!(
            *c as u32,
            0x200c..=0x200f | 0x202a..=0x202e | 0x206a..=0x206f | 0xfeff
        )
    };
    let mut chars = name.chars().filter(|c| !ignorable(c));
    let mut expect = |want: char| chars.next().is_some_and(|c| c.eq_ignore_ascii_case(&want));
    expect('.') && expect('g') && expect('i') && expect('t') && chars.next().is_none()
}

/// A path below the scratch root made of checked names only: the one way [`write`] gets a path
/// to create, so what it writes cannot leave the root.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct TreePath(Vec<EntryName>);

impl TreePath {
    fn child(&self, name: EntryName) -> TreePath {
        let mut names = self.0.clone();
        names.push(name);
        TreePath(names)
    }

    /// The file system path of this entry under `root`.
    fn under(&self, root: &Path) -> PathBuf {
        let mut p = root.to_path_buf();
        for n in &self.0 {
            p.push(n.os());
        }
        p
    }

    /// The repository path, for messages.
    fn repo_path(&self) -> String {
        display_path(self.0.iter().map(|n| &*n.0))
    }
}

fn display_path<'a>(parts: impl Iterator<Item = &'a [u8]>) -> String {
    parts
        .map(String::from_utf8_lossy)
        .collect::<Vec<_>>()
        .join("/")
}

/// Why a symlink in the tree is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEscape {
    /// The target is an absolute path.
    Absolute,
    /// Followed in the tree, the target climbs above the repository root.
    AboveRoot,
    /// Followed in the tree, the target reaches the symlink at this repository path, whose
    /// target is absolute.
    ThroughAbsolute(String),
    /// More symlinks in a row than the kernel follows (40).
    TooManyLinks,
    /// Written, the file system resolves it outside the root (through names it treats as one
    /// that the tree keeps apart).
    OnDisk,
}

impl fmt::Display for LinkEscape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkEscape::Absolute => f.write_str("an absolute path"),
            LinkEscape::AboveRoot => f.write_str("a path that leads out of the repository"),
            LinkEscape::ThroughAbsolute(p) => write!(
                f,
                "a path that leads out of the repository through the symlink `{p}`"
            ),
            LinkEscape::TooManyLinks => f.write_str("a path through more than 40 symlinks"),
            LinkEscape::OnDisk => f.write_str(
                "a path this file system resolves outside the repository (it treats names the tree keeps apart, by case or Unicode form, as one)",
            ),
        }
    }
}

/// What one entry of the plan is.
enum Node<'a> {
    Dir,
    Blob(Oid),
    /// A file written over the tree (the edited overlay).
    Bytes(&'a [u8]),
    Symlink(Vec<u8>),
}

/// What [`write`] writes, checked: every path of the tree that is written, in an order where a
/// directory comes before what it holds.
pub(crate) struct Plan<'a> {
    entries: BTreeMap<TreePath, Node<'a>>,
}

/// As many symlinks as Linux follows in one lookup (`MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

impl<'a> Plan<'a> {
    /// Read `commit`'s tree (only the directories `only` asks for, `""` = all; or everything)
    /// and place `overrides` (repo path → bytes) over it, checking everything; writes nothing.
    pub(crate) fn read(
        repo: &Repository,
        commit: CommitId,
        tree: &git2::Tree<'_>,
        only: Option<&[String]>,
        overrides: &'a BTreeMap<String, Vec<u8>>,
    ) -> Result<Plan<'a>, GitError> {
        let bad = |path: String, why: BadName| GitError::BadTreeEntry {
            commit: commit.to_string(),
            path,
            why,
        };
        let mut entries: BTreeMap<TreePath, Node<'a>> = BTreeMap::new();
        // Trees to read, by their path; a stack, so a deep tree cannot exhaust the call stack.
        let mut pending: Vec<(TreePath, Oid)> = vec![(TreePath::default(), tree.id())];
        while let Some((dir, oid)) = pending.pop() {
            let tree = repo.find_tree(oid).map_err(|source| GitError::Git {
                doing: format!("reading the tree `{}` of {commit}", dir.repo_path()),
                source,
            })?;
            for e in tree.iter() {
                let raw = e.name_bytes();
                let name = EntryName::new(raw).map_err(|why| {
                    bad(display_path(dir.0.iter().map(|n| &*n.0).chain([raw])), why)
                })?;
                let path = dir.child(name);
                let node = match (e.kind(), e.filemode()) {
                    (Some(ObjectType::Tree), _) => Node::Dir,
                    (Some(ObjectType::Blob), 0o120000) => {
                        let blob = repo.find_blob(e.id()).map_err(|source| GitError::Git {
                            doing: format!("reading the symlink `{}`", path.repo_path()),
                            source,
                        })?;
                        Node::Symlink(blob.content().to_vec())
                    }
                    (Some(ObjectType::Blob), _) => Node::Blob(e.id()),
                    // A submodule: its content is not in this repository.
                    _ => continue,
                };
                if !wanted(only, &path, matches!(node, Node::Dir)) {
                    continue;
                }
                if matches!(node, Node::Dir) {
                    pending.push((path.clone(), e.id()));
                }
                // Two entries of one name (fsck: duplicateEntries): a symlink `a` and a
                // directory `a` would make the directory's files land where the symlink points.
                if entries.insert(path.clone(), node).is_some() {
                    return Err(GitError::DuplicateTreeEntry {
                        commit: commit.to_string(),
                        path: path.repo_path(),
                    });
                }
            }
        }
        let mut plan = Plan { entries };
        for (path, bytes) in overrides {
            plan.put(commit, path, bytes)?;
        }
        plan.check_links(commit)?;
        Ok(plan)
    }

    /// Place a file at `repo_path`, over the tree's file there or new (with its directories).
    fn put(&mut self, commit: CommitId, repo_path: &str, bytes: &'a [u8]) -> Result<(), GitError> {
        let refuse = |why: &str| GitError::BadOverride {
            commit: commit.to_string(),
            path: repo_path.to_owned(),
            why: why.to_owned(),
        };
        let mut path = TreePath::default();
        let names: Vec<&str> = repo_path.split('/').collect();
        for (i, part) in names.iter().enumerate() {
            let name = EntryName::new(part.as_bytes()).map_err(|why| refuse(&why.to_string()))?;
            path = path.child(name);
            let last = i + 1 == names.len();
            match (self.entries.get(&path), last) {
                (None, false) => {
                    self.entries.insert(path.clone(), Node::Dir);
                }
                (Some(Node::Dir), false) => {}
                (None | Some(Node::Blob(_) | Node::Bytes(_)), true) => {
                    self.entries.insert(path.clone(), Node::Bytes(bytes));
                }
                (Some(Node::Symlink(_)), _) => {
                    return Err(refuse(&format!(
                        "`{}` is a symlink in the tree",
                        path.repo_path()
                    )));
                }
                (Some(Node::Dir), true) => return Err(refuse("it is a directory in the tree")),
                (Some(Node::Blob(_) | Node::Bytes(_)), false) => {
                    return Err(refuse(&format!(
                        "`{}` is a file in the tree",
                        path.repo_path()
                    )));
                }
            }
        }
        Ok(())
    }

    /// Refuse a symlink whose target, followed as the kernel will follow it in the written
    /// tree, leaves the root.
    ///
    /// A lexical check of each target alone is not enough: with `sub/up -> ..` (the root) and
    /// `sub/e -> up/..`, `e`'s text stays in `sub`, but the kernel resolves `up` to the root
    /// first, and `..` then climbs above it. So each target is walked
    /// component by component, and a component that is a symlink of the tree is replaced by
    /// its own target, as the kernel does. Files and missing paths are walked lexically
    /// (the kernel would stop there with an error, so that only refuses more). The tree holds
    /// every symlink the root will hold (nothing else writes into it), so a target that stays
    /// inside here stays inside on disk.
    fn check_links(&self, commit: CommitId) -> Result<(), GitError> {
        let links: HashMap<Vec<&[u8]>, &[u8]> = self
            .entries
            .iter()
            .filter_map(|(p, n)| match n {
                Node::Symlink(t) => Some((p.0.iter().map(|n| &*n.0).collect(), t.as_slice())),
                _ => None,
            })
            .collect();
        for (path, node) in &self.entries {
            let Node::Symlink(target) = node else {
                continue;
            };
            let dir = &path.0[..path.0.len() - 1];
            let at: Vec<&[u8]> = dir.iter().map(|n| &*n.0).collect();
            resolve(&links, at, target).map_err(|why| GitError::SymlinkEscape {
                commit: commit.to_string(),
                path: path.repo_path(),
                target: String::from_utf8_lossy(target).into_owned(),
                why,
            })?;
        }
        Ok(())
    }
}

/// Follow `target` from the directory `at` (components below the root) through `links`; `Err`
/// when that leaves the root.
fn resolve<'t>(
    links: &HashMap<Vec<&'t [u8]>, &'t [u8]>,
    at: Vec<&'t [u8]>,
    target: &'t [u8],
) -> Result<(), LinkEscape> {
    if target.first() == Some(&b'/') {
        return Err(LinkEscape::Absolute);
    }
    let mut here = at;
    // The components still to walk, the next one last.
    let mut todo: Vec<&[u8]> = target.split(|&b| b == b'/').rev().collect();
    let mut followed = 0;
    while let Some(part) = todo.pop() {
        match part {
            b"" | b"." => {}
            b".." => {
                if here.pop().is_none() {
                    return Err(LinkEscape::AboveRoot);
                }
            }
            name => {
                here.push(name);
                if let Some(next) = links.get(&here) {
                    followed += 1;
                    if followed > MAX_LINKS {
                        return Err(LinkEscape::TooManyLinks);
                    }
                    if next.first() == Some(&b'/') {
                        return Err(LinkEscape::ThroughAbsolute(display_path(
                            here.iter().copied(),
                        )));
                    }
                    here.pop();
                    todo.extend(next.split(|&b| b == b'/').rev());
                }
            }
        }
    }
    Ok(())
}

/// Is `path` inside one of `only` (repo directories, `""` = everything), or, for a directory,
/// on the way to one?
fn wanted(only: Option<&[String]>, path: &TreePath, is_dir: bool) -> bool {
    let Some(only) = only else { return true };
    let rel = path.0.iter().map(|n| &*n.0).collect::<Vec<_>>().join(&b'/');
    only.iter().any(|d| {
        let d = d.as_bytes();
        d.is_empty()
            || rel == d
            || rel.strip_prefix(d).is_some_and(|r| r.starts_with(b"/"))
            || (is_dir
                && d.strip_prefix(rel.as_slice())
                    .is_some_and(|r| r.starts_with(b"/")))
    })
}

/// Write `plan` (of `commit`'s tree) below `root` (an existing, empty directory).
pub(crate) fn write(
    repo: &Repository,
    commit: CommitId,
    plan: &Plan<'_>,
    root: &Path,
) -> Result<(), GitError> {
    let io = |doing: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| GitError::Io {
            doing,
            path,
            source,
        }
    };
    let mut links = Vec::new();
    for (path, node) in &plan.entries {
        let dest = path.under(root);
        match node {
            Node::Dir => {
                let mut b = std::fs::DirBuilder::new();
                #[cfg(unix)]
                std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
                b.create(&dest)
                    .map_err(io("materializing a directory of the tree", &dest))?;
            }
            Node::Blob(oid) => {
                let blob = repo.find_blob(*oid).map_err(|source| GitError::Git {
                    doing: format!("reading `{}`", path.repo_path()),
                    source,
                })?;
                create_file(&dest, blob.content())
                    .map_err(io("materializing a file of the tree", &dest))?;
            }
            Node::Bytes(bytes) => {
                create_file(&dest, bytes).map_err(io("writing an edited file", &dest))?;
            }
            Node::Symlink(target) => links.push((path, dest, target)),
        }
    }
    // Last, so that no file or directory above is written through a symlink.
    for (_, dest, target) in &links {
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), dest)
                .map_err(io("materializing a symlink", dest))?;
        }
        #[cfg(not(unix))]
        {
            // No symlinks here: the target's text, as git writes it with core.symlinks=false.
            create_file(dest, target).map_err(io("materializing a symlink", dest))?;
        }
    }
    // `Plan::check_links` resolved every target against the tree's own symlinks. A file system
    // can treat names the tree keeps apart as one (case-insensitive APFS, Unicode forms), so a
    // target there can pass through a symlink the check did not see; the kernel's answer, now
    // that everything is written and before anything reads it, settles that.
    #[cfg(unix)]
    if !links.is_empty() {
        let real_root =
            std::fs::canonicalize(root).map_err(io("resolving the scratch directory", root))?;
        for (path, dest, target) in &links {
            if let Ok(real) = std::fs::canonicalize(dest)
                && !real.starts_with(&real_root)
            {
                return Err(GitError::SymlinkEscape {
                    commit: commit.to_string(),
                    path: path.repo_path(),
                    target: String::from_utf8_lossy(target).into_owned(),
                    why: LinkEscape::OnDisk,
                });
            }
        }
    }
    Ok(())
}

/// Create `path` (never there before: an existing file or symlink is an error, not followed).
fn create_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Result<EntryName, BadName> {
        EntryName::new(s.as_bytes())
    }

    #[test]
    fn ordinary_names_pass() {
        for ok in [
            "kustomization.yaml",
            "a",
            "...",
            ".gitignore",
            ".github",
            "git",
            "git~2",
            ".git-foo",
            "foo.git",
            ".gitx",
            "a\\b",
            ".\u{147}it", // `.Ňit`: HFS+ folds no accents that far (git's t1450)
            "über",
        ] {
            assert!(name(ok).is_ok(), "{ok:?} was refused");
        }
        assert!(
            EntryName::new(b"caf\xe9").is_ok(),
            "a Latin-1 name is a name"
        );
    }

    #[test]
    fn names_git_fsck_flags_are_refused() {
        for (bad, why) in [
            ("", BadName::Empty),
            (".", BadName::Dot),
            ("..", BadName::DotDot),
            ("a/b", BadName::Slash),
            ("../etc", BadName::Slash),
            ("/etc", BadName::Slash),
            ("a\0b", BadName::Nul),
            (".git", BadName::DotGit),
            (".GIT", BadName::DotGit),
            (".GiT", BadName::DotGit),
            // NTFS: trailing dots and spaces, the short name, alternate data streams.
            (".git.", BadName::DotGit),
            (".git . .", BadName::DotGit),
            ("git~1", BadName::DotGit),
            ("GIT~1", BadName::DotGit),
            ("git~1. ", BadName::DotGit),
            (".git::$INDEX_ALLOCATION", BadName::DotGit),
            (".git:stream", BadName::DotGit),
            (".git\\config", BadName::DotGit),
            ("a\\.git", BadName::DotGit),
            ("a\\b\\GIT~1", BadName::DotGit),
            // HFS+: ignorable code points inside `.git`.
            (".g\u{200c}it", BadName::DotGit),
            ("\u{200d}.git", BadName::DotGit),
            (".gi\u{202e}t", BadName::DotGit),
            (".git\u{feff}", BadName::DotGit),
            (".G\u{206a}I\u{206f}T", BadName::DotGit),
        ] {
            assert_eq!(name(bad).err(), Some(why), "{bad:?}");
        }
    }

    fn path(p: &str) -> TreePath {
        TreePath(p.split('/').map(|n| name(n).unwrap()).collect())
    }

    #[test]
    fn edited_files_go_over_the_tree_never_through_a_symlink() {
        let commit = CommitId(Oid::ZERO_SHA1);
        let bytes = b"images: []\n".to_vec();
        let mut plan = Plan {
            entries: BTreeMap::from([
                (path("kustomize"), Node::Dir),
                (path("kustomize/prod"), Node::Symlink(b"staging".to_vec())),
                (path("kustomize/staging"), Node::Dir),
                (
                    path("kustomize/staging/kustomization.yaml"),
                    Node::Blob(Oid::ZERO_SHA1),
                ),
            ]),
        };
        plan.put(commit, "kustomize/staging/kustomization.yaml", &bytes)
            .unwrap();
        assert!(matches!(
            plan.entries[&path("kustomize/staging/kustomization.yaml")],
            Node::Bytes(_)
        ));
        plan.put(commit, "new/dir/kustomization.yaml", &bytes)
            .unwrap();
        assert!(matches!(plan.entries[&path("new/dir")], Node::Dir));
        for bad in [
            "kustomize/prod/kustomization.yaml",
            "kustomize/../x",
            "kustomize/staging",
            "kustomize/staging/kustomization.yaml/x",
            ".git/config",
        ] {
            assert!(
                matches!(
                    plan.put(commit, bad, &bytes),
                    Err(GitError::BadOverride { .. })
                ),
                "{bad}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_the_file_system_resolves_outside_is_refused_after_writing() {
        // `pre` stands for a name the file system aliases to a symlink the tree check did not
        // see (as case folding would): it exists on disk only, pointing above the root.
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path().join("repo")).unwrap();
        let root = dir.path().join("scratch/root");
        std::fs::create_dir_all(&root).unwrap();
        std::os::unix::fs::symlink("..", root.join("pre")).unwrap();
        let commit = CommitId(Oid::ZERO_SHA1);
        let plan = Plan {
            entries: BTreeMap::from([(path("e"), Node::Symlink(b"pre/..".to_vec()))]),
        };
        plan.check_links(commit).unwrap();
        match write(&repo, commit, &plan, &root) {
            Err(GitError::SymlinkEscape { path, why, .. }) => {
                assert_eq!((path.as_str(), why), ("e", LinkEscape::OnDisk));
            }
            other => panic!("{other:?}"),
        }
        // Inside is fine.
        let ok = dir.path().join("ok");
        std::fs::create_dir_all(&ok).unwrap();
        let plan = Plan {
            entries: BTreeMap::from([
                (path("d"), Node::Dir),
                (path("e"), Node::Symlink(b"d/..".to_vec())),
            ]),
        };
        write(&repo, commit, &plan, &ok).unwrap();
    }

    fn links<'a>(pairs: &[(&'a str, &'a str)]) -> HashMap<Vec<&'a [u8]>, &'a [u8]> {
        pairs
            .iter()
            .map(|(p, t)| (p.split('/').map(str::as_bytes).collect(), t.as_bytes()))
            .collect()
    }

    fn check(pairs: &[(&str, &str)], link: &str) -> Result<(), LinkEscape> {
        let table = links(pairs);
        let target = pairs.iter().find(|(p, _)| *p == link).unwrap().1;
        let mut at: Vec<&[u8]> = link.split('/').map(str::as_bytes).collect();
        at.pop();
        resolve(&table, at, target.as_bytes())
    }

    #[test]
    fn symlinks_inside_the_tree_pass() {
        let tree = [
            ("kustomize/prod/base", "../base"),
            ("kustomize/prod/self", "."),
            ("top", "kustomize"),
            ("via", "top/prod/base/../.."),
            ("dangling", "nowhere/else"),
        ];
        for (link, _) in tree {
            assert_eq!(check(&tree, link), Ok(()), "{link}");
        }
    }

    #[test]
    fn symlinks_that_leave_the_tree_are_refused() {
        let tree = [
            ("abs", "/etc"),
            ("up", ".."),
            ("kustomize/prod/out", "../../../etc"),
            // Lexically `up/..` is `sub`; the kernel climbs from the root instead.
            ("sub/up", ".."),
            ("sub/e", "up/.."),
            ("to-abs", "abs/passwd"),
            ("loop-a", "loop-b"),
            ("loop-b", "loop-a"),
        ];
        assert_eq!(check(&tree, "abs"), Err(LinkEscape::Absolute));
        assert_eq!(check(&tree, "up"), Err(LinkEscape::AboveRoot));
        assert_eq!(
            check(&tree, "kustomize/prod/out"),
            Err(LinkEscape::AboveRoot)
        );
        assert_eq!(check(&tree, "sub/up"), Ok(()));
        assert_eq!(check(&tree, "sub/e"), Err(LinkEscape::AboveRoot));
        assert_eq!(
            check(&tree, "to-abs"),
            Err(LinkEscape::ThroughAbsolute("abs".into()))
        );
        assert_eq!(check(&tree, "loop-a"), Err(LinkEscape::TooManyLinks));
    }
}
