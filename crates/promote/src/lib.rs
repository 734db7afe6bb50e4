//! The use cases of `kubectl promote` (promote, status, init, …): the one place where the
//! adapters (git, render, policies, forges, Argo CD) meet. Each use case returns a plain result
//! type that the binary renders as text, JSON or YAML; progress goes through [`Interaction`] so
//! that stdout stays the result alone.

pub mod after_deploy;
pub mod approval;
pub mod clock;
pub mod deploy;
pub mod diff;
pub mod document;
pub mod error;
pub mod forge;
pub mod gate;
pub mod history;
pub mod images;
pub mod init;
pub mod interaction;
pub mod peek;
pub mod plan;
pub mod policies;
pub mod ports;
pub mod promotion;
pub mod provenance;
pub mod release;
pub mod render;
pub mod rendered;
pub mod resume;
pub mod rollback;
pub mod scratch;
pub mod session;
pub mod status;
pub mod supply_chain;
pub mod sync;
pub mod verify;
pub mod verify_deploy;
pub mod waves;

pub use error::PromoteError;
pub use images::{ImageCheck, ImageMode};
pub use interaction::{Interaction, Quiet};
pub use ports::Ports;
pub use session::{Session, Workspace};
