//! (owned by the argocd work; filled in by that issue)
