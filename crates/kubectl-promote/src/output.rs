//! Where results and progress go: the result on stdout (text, or a versioned JSON/YAML document
//! for scripts), progress and warnings on stderr. Writers are injectable so tests read buffers.

use std::cell::RefCell;
use std::io::Write;

use anstyle::{AnsiColor, Style};
use serde::Serialize;

use crate::cli::OutputFormat;

pub const API_VERSION: &str = "promote.kubectl.io/v1alpha1";

pub struct Shell {
    out: RefCell<Box<dyn Write>>,
    err: RefCell<Box<dyn Write>>,
    pub format: OutputFormat,
    pub quiet: bool,
    pub verbose: u8,
}

/// A versioned result document.
#[derive(Serialize)]
struct Document<'a, T: Serialize> {
    #[serde(rename = "apiVersion")]
    api_version: &'static str,
    kind: &'a str,
    #[serde(flatten)]
    body: &'a T,
}

pub const GREEN: Style = AnsiColor::Green.on_default();
pub const RED: Style = AnsiColor::Red.on_default();
pub const CYAN: Style = AnsiColor::Cyan.on_default();
pub const YELLOW: Style = AnsiColor::Yellow.on_default();
pub const BOLD: Style = Style::new().bold();
pub const DIM: Style = Style::new().dimmed();

impl Shell {
    pub fn new(
        out: Box<dyn Write>,
        err: Box<dyn Write>,
        format: OutputFormat,
        quiet: bool,
        verbose: u8,
    ) -> Shell {
        Shell {
            out: RefCell::new(out),
            err: RefCell::new(err),
            format,
            quiet,
            verbose,
        }
    }

    pub fn is_text(&self) -> bool {
        self.format == OutputFormat::Text
    }

    /// A line of the result (text mode).
    pub fn out(&self, line: impl AsRef<str>) -> std::io::Result<()> {
        writeln!(self.out.borrow_mut(), "{}", line.as_ref())
    }

    /// The result as a document, in JSON or YAML (text mode calls `text` instead).
    pub fn document<T: Serialize>(&self, kind: &str, body: &T) -> anyhow::Result<()> {
        let doc = Document {
            api_version: API_VERSION,
            kind,
            body,
        };
        let text = match self.format {
            OutputFormat::Json => serde_json::to_string_pretty(&doc)? + "\n",
            OutputFormat::Yaml => {
                promote_core::yaml::to_string(&doc).map_err(anyhow::Error::msg)?
            }
            OutputFormat::Text => return Ok(()),
        };
        self.out.borrow_mut().write_all(text.as_bytes())?;
        Ok(())
    }

    /// A progress line on stderr (not with `-q`).
    pub fn status(&self, message: &str) {
        if !self.quiet {
            let _ = writeln!(self.err.borrow_mut(), "{DIM}» {message}{DIM:#}");
        }
    }

    pub fn warn(&self, message: &str) {
        let _ = writeln!(
            self.err.borrow_mut(),
            "{YELLOW}warning:{YELLOW:#} {message}"
        );
    }

    /// Free text on stderr (plans shown before a confirmation).
    pub fn err_text(&self, text: &str) {
        let _ = write!(self.err.borrow_mut(), "{text}");
    }

    pub fn flush(&self) {
        let _ = self.out.borrow_mut().flush();
        let _ = self.err.borrow_mut().flush();
    }
}

impl promote::Interaction for Shell {
    fn step(&self, message: &str) {
        self.status(message);
    }
    fn detail(&self, message: &str) {
        if self.verbose > 0 {
            self.status(message);
        }
    }
    fn warn(&self, message: &str) {
        Shell::warn(self, message);
    }
}

/// Colour a unified diff as `git diff` does.
pub fn color_diff(diff: &str) -> String {
    let mut out = String::new();
    for line in diff.lines() {
        let style = if line.starts_with("+++") || line.starts_with("---") {
            BOLD
        } else if line.starts_with('+') {
            GREEN
        } else if line.starts_with('-') {
            RED
        } else if line.starts_with("@@") {
            CYAN
        } else {
            Style::new()
        };
        out.push_str(&format!("{style}{line}{style:#}\n"));
    }
    out
}
