//! Fuzzes loading `promote.yaml` (`promote_core::config::Config::parse`): bytes as the session
//! reads them from the base tip. Never a panic; an error names the file and says how to fix it;
//! a config that loads keeps the promises the rest of the program relies on (unique, non-reserved
//! environment names, every `from` names an environment, no `from` cycle, every env findable).

#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use promote_core::config::{Config, RESERVED_NAMES};

const FILE: &str = "promote.yaml (origin/main 1a2b3c4)";

fuzz_target!(|data: &[u8]| {
    // The session refuses non-UTF-8 bytes before parsing (PromoteError::NotUtf8).
    let Ok(text) = std::str::from_utf8(data) else { return };
    let config = match Config::parse(FILE, text) {
        Ok(c) => c,
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with(FILE), "the error does not name the file: {msg}");
            assert!(msg.contains("\n  fix: "), "the error has no fix: {msg}");
            assert!(!e.key.is_empty() && !e.problem.is_empty() && !e.fix.is_empty(), "{msg}");
            return;
        }
    };
    let names: BTreeSet<&str> = config.environments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names.len(), config.environments.len(), "duplicate environment names loaded");
    for env in &config.environments {
        assert!(!RESERVED_NAMES.contains(&env.name.as_str()), "reserved name {} loaded", env.name);
        assert!(!env.overlay.ends_with('/'), "overlay keeps a trailing slash: {}", env.overlay);
        assert_eq!(config.env(&env.name).map(|e| &e.name), Ok(&env.name));
        let mut at = env;
        for _ in 0..=config.environments.len() {
            let Some(up) = &at.from else { break };
            at = config.env(up).unwrap_or_else(|e| panic!("`from: {up}` of {} names no environment: {e}", env.name));
            assert_ne!(at.name, env.name, "a `from` cycle through {} loaded", env.name);
        }
        let _ = config.downstream_of(&env.name).count();
    }
});
