//! (owned by the forge work; filled in by that issue)
