//! Fuzzes reading a policy's stdout: the host parses it as a `Decision` (`serde_json` into
//! `promote_policy_sdk::Decision`, which checks the contract while reading), exactly as
//! `promote_policy::Host::evaluate` does. Also the other documents crossing the sandbox boundary:
//! the `validate-settings` answer (host side) and the request a guest reads (SDK side).
//! Never a panic; a decision that parses is valid and survives a round trip unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use promote_policy_sdk::{Decision, EvaluationRequest, SettingsValidation};

fuzz_target!(|data: &[u8]| {
    match serde_json::from_slice::<Decision>(data) {
        Ok(d) => {
            assert!(d.validate().is_ok(), "an invalid decision parsed: {d:?}");
            let again: Decision = serde_json::from_slice(&serde_json::to_vec(&d).unwrap()).unwrap();
            assert_eq!(again, d);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    let _ = serde_json::from_slice::<SettingsValidation>(data);
    if let Ok(r) = serde_json::from_slice::<EvaluationRequest>(data) {
        let _ = serde_json::to_vec(&r).unwrap();
    }
});
