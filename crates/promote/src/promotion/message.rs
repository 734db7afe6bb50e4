//! The commit message of a promotion or a revert: a subject for `git log --oneline`, the user's
//! `-m` text, the image table, and the trailers that make `git log` the audit trail. Every
//! trailer's value comes from the tool; user text cannot add or change one.

use promote_core::Person;
use promote_core::image::ImageChange;
use promote_core::trailers::{self, Trailers};

use super::draft::{Checks, Draft};
use crate::Session;
use crate::gate::{PolicyVerdict, verdict};

/// What the commit is.
#[derive(Debug, Clone)]
pub enum Subject<'a> {
    /// A promotion, from the upstream environment if any.
    Promotion { from: Option<&'a str> },
    /// A revert: the promotion it undoes (commit and subject), named in the subject when it is
    /// the one that brought what runs.
    Revert {
        reverts: Option<(&'a str, &'a str)>,
        name_it: bool,
    },
}

/// The message of the commit `d` makes, by `author`, with `note` (`-m`) as its body's first
/// paragraph.
/// The [`super::draft::Message`] of a plan: [`commit_message`] with `subject` and the user's
/// `note` (`-m`).
pub fn builder<'a>(
    session: &'a Session,
    subject: &'a Subject<'a>,
    note: Option<&'a str>,
) -> impl Fn(&Draft<'_>, &Person, Option<&PolicyVerdict>, Checks<'_>) -> String + 'a {
    move |d, author, verdict, checks| {
        commit_message((session, d, author), subject, note, verdict, checks)
    }
}

pub fn commit_message(
    (session, d, author): (&Session, &Draft<'_>, &Person),
    subject: &Subject<'_>,
    note: Option<&str>,
    verdict: Option<&PolicyVerdict>,
    (images, supply_chain): Checks<'_>,
) -> String {
    let env = &d.env.name;
    let version = d.version.as_deref().unwrap_or("mixed");
    let title = match subject {
        Subject::Promotion { from: Some(up) } => {
            format!("promote {env} to {version} (from {up})")
        }
        Subject::Promotion { from: None } => format!("promote {env} to {version}"),
        Subject::Revert {
            reverts: Some((sha, subj)),
            name_it: true,
        } => format!(
            "rollback {env} to {version} (revert {} \"{subj}\")",
            &sha[..7]
        ),
        Subject::Revert { .. } => format!("rollback {env} to {version}"),
    };
    let mut body = Vec::new();
    if let Some(m) = note {
        body.push(m.to_owned());
    }
    body.push(image_table(d.overlay.file(), &d.changes));
    let mut t = Trailers::default();
    t.push(trailers::PROMOTED_BY, author.to_string());
    t.push(trailers::ENVIRONMENT, env);
    t.push(trailers::VERSION, version);
    if let Some(app) = &d.env.app {
        t.push(trailers::APP, app);
    }
    match subject {
        Subject::Promotion { from } => {
            if let Some(up) = from {
                t.push(trailers::FROM, *up);
            }
        }
        Subject::Revert { reverts, .. } => {
            t.push(trailers::ROLLBACK, "revert");
            if let Some((sha, _)) = reverts {
                t.push(trailers::REVERTS, *sha);
            }
        }
    }
    verdict::add_trailers(verdict, &mut t);
    if let (Subject::Promotion { .. }, Some(cfg)) = (subject, &session.config_override) {
        t.push(trailers::POLICY_CONFIG, format!("--config {cfg}"));
    }
    images.add_trailers(&mut t);
    supply_chain.add_trailers(&mut t);
    trailers::message(&title, &body, &t)
}

/// The body's table of a file's image changes: `FILE:` then `  name  from -> to` per image.
pub fn image_table(file: &str, changes: &[ImageChange]) -> String {
    let width = changes.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let mut table = format!("{file}:\n");
    for c in changes {
        table.push_str(&format!("  {:width$}  {} -> {}\n", c.name, c.from, c.to));
    }
    table
}
