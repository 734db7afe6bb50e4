//! The rendered diff as text: a line per object (`~ apps/Deployment shop/cart: spec…image`),
//! and with `--diff=full` each object's patch. Shared by the plan of `promote` (and a revert)
//! and by `kubectl promote diff`.

use std::cell::Cell;

use promote::plan::RenderDiff;
use promote_core::render_diff::ObjectDiff;

use crate::cli::DiffLevel;
use crate::output::{DIM, Shell, YELLOW, color_diff};

/// The level the plan's text shows, set by the command before it runs (`--diff`, else summary,
/// full with `--dry-run`); milestones printed while a use case runs read it.
#[derive(Debug)]
pub struct Level(Cell<DiffLevel>);

impl Default for Level {
    fn default() -> Self {
        Level(Cell::new(DiffLevel::Summary))
    }
}

impl Level {
    pub fn set(&self, level: DiffLevel) {
        self.0.set(level);
    }
    pub fn get(&self) -> DiffLevel {
        self.0.get()
    }
}

/// Print `diff` at `level` under a heading naming what it compares.
pub fn print(
    shell: &Shell,
    heading: &str,
    diff: &RenderDiff,
    level: DiffLevel,
) -> anyhow::Result<()> {
    if level == DiffLevel::None {
        return Ok(());
    }
    match diff {
        RenderDiff::Unavailable { unavailable } => Ok(shell.out(format!(
            "{YELLOW}rendered diff not available{YELLOW:#}: {unavailable}"
        ))?),
        RenderDiff::Objects(objects) => print_objects(shell, heading, objects, level),
    }
}

/// The objects of a diff at `level` (not `None`).
pub fn print_objects(
    shell: &Shell,
    heading: &str,
    objects: &[ObjectDiff],
    level: DiffLevel,
) -> anyhow::Result<()> {
    if objects.is_empty() {
        return Ok(shell.out(format!("{heading}: no object changes"))?);
    }
    shell.out(format!(
        "{heading}: {} object{}",
        objects.len(),
        if objects.len() == 1 { "" } else { "s" }
    ))?;
    for o in objects {
        let hidden = if o.secret { " (values hidden)" } else { "" };
        shell.out(format!("  {}{hidden}", o.line()))?;
    }
    if level == DiffLevel::Full {
        for o in objects {
            shell.out("")?;
            for line in color_diff(&o.patch).lines() {
                shell.out(line)?;
            }
        }
    } else {
        shell.out(format!(
            "  {DIM}(--diff=full shows each object's patch){DIM:#}"
        ))?;
    }
    Ok(())
}
