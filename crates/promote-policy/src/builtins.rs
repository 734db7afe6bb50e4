//! The built-in policy modules, compiled from `policies/` by `scripts/build-policies.sh` and
//! committed under `builtins/`; embedded here so `builtin:NAME` needs no file.

/// Names usable as `builtin:NAME`.
pub const BUILTIN_NAMES: &[&str] = &[
    "qa-approved",
    "change-window",
    "semver-guard",
    "soak-time",
    "require-approval",
    "rollback-guard",
    "slo-guard",
    "signed-images",
];

/// The embedded bytes of `builtin:NAME`.
pub fn builtin_bytes(name: &str) -> Option<&'static [u8]> {
    Some(match name {
        "qa-approved" => include_bytes!("../builtins/qa-approved.wasm"),
        "change-window" => include_bytes!("../builtins/change-window.wasm"),
        "semver-guard" => include_bytes!("../builtins/semver-guard.wasm"),
        "soak-time" => include_bytes!("../builtins/soak-time.wasm"),
        "require-approval" => include_bytes!("../builtins/require-approval.wasm"),
        "rollback-guard" => include_bytes!("../builtins/rollback-guard.wasm"),
        "slo-guard" => include_bytes!("../builtins/slo-guard.wasm"),
        "signed-images" => include_bytes!("../builtins/signed-images.wasm"),
        _ => return None,
    })
}
