//! Rego policies (`promote.opa/v1`) on the host: bundles built by the real `opa` (cached by
//! source hash in the target dir), the example `qa-approved` against the built-in's cases and
//! its own, the load-time builtin check, undefined results, limits, and a fresh instance per call.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use promote_policy::cases::{load_cases, run_case};
use promote_policy::sdk::Verdict;
use promote_policy::{
    CacheMode, CacheStatus, Heal, Host, HostConfig, Limits, LoadError, ModuleSource, PolicyError,
    Sha256,
};
use promote_testkit::opa::{build_dir, build_files};
use promote_testkit::repo::workspace_root;
use serde_json::json;

use super::{host, host_with, request};

const MANIFEST: &str = r#"{"roots": ["promote"], "metadata": {"kubectl-promote": {"name": "t", "version": "0.0.1", "abi": "promote.opa/v1", "operations": ["promote"]}}}"#;
const DECISION: &str = "promote/decision";

fn example_dir() -> PathBuf {
    workspace_root().join("examples/policies/rego/qa-approved")
}

/// The example bundle, built as docs/policies.md says.
fn example_bundle() -> PathBuf {
    build_dir(&example_dir(), &[DECISION, "promote/validate_settings"])
}

fn file(path: &Path) -> ModuleSource {
    ModuleSource::File {
        path: path.to_owned(),
        sha256: None,
    }
}

/// A bundle of one inline `package promote` policy with metadata in its manifest.
fn rego(policy: &str) -> ModuleSource {
    file(&build_files(
        &[("policy.rego", policy), (".manifest", MANIFEST)],
        &[DECISION],
    ))
}

const ALLOW_REGO: &str = r#"package promote
decision := {"apiVersion": "policy.promote.kubectl.io/v1alpha1", "kind": "Decision", "decision": "allow"}
"#;

/// The example that reads the rendered diff (`promotion.renderDiff`): its cases on the host, and
/// nothing it uses left to the host's builtins.
#[test]
fn the_rego_sensitive_objects_example_passes_its_cases() {
    let host = host();
    let dir = workspace_root().join("examples/policies/rego/sensitive-objects");
    let bundle = build_dir(&dir, &[DECISION, "promote/validate_settings"]);
    let policy = host.load(&file(&bundle)).unwrap();
    assert_eq!(policy.name(), "sensitive-objects");
    assert_eq!(policy.opa_builtins(), Some(&[][..]));
    let cases = load_cases(&dir.join("cases")).unwrap();
    assert!(cases.len() >= 6, "only {} cases", cases.len());
    for (path, case) in cases {
        if let Err(problems) = run_case(&host, &policy, &case) {
            panic!("{}:\n{problems}", path.display());
        }
    }
}

/// The example that reads the supply-chain facts (`images[].supplyChain.provenance`): its cases
/// on the host, with nothing left to the host's builtins.
#[test]
fn the_rego_trusted_builder_example_passes_its_cases() {
    supply_chain_example_passes_its_cases("trusted-builder", 3);
}

/// The example that reads keyless signatures' identities (`signatures[].identity`).
#[test]
fn the_rego_trusted_signer_example_passes_its_cases() {
    supply_chain_example_passes_its_cases("trusted-signer", 3);
}

/// `examples/policies/rego/NAME` built and loaded: named `NAME-rego`, every builtin compiled
/// in, and its `count` cases pass.
fn supply_chain_example_passes_its_cases(name: &str, count: usize) {
    let host = host();
    let dir = workspace_root().join("examples/policies/rego").join(name);
    let bundle = build_dir(&dir, &[DECISION, "promote/validate_settings"]);
    let policy = host.load(&file(&bundle)).unwrap();
    assert_eq!(policy.name(), format!("{name}-rego"));
    assert_eq!(policy.opa_builtins(), Some(&[][..]));
    let cases = load_cases(&dir.join("cases")).unwrap();
    assert_eq!(cases.len(), count);
    for (path, case) in cases {
        if let Err(problems) = run_case(&host, &policy, &case) {
            panic!("{}:\n{problems}", path.display());
        }
    }
}

#[test]
fn the_rego_qa_approved_passes_the_builtin_cases_and_its_own() {
    let host = host();
    let bundle = example_bundle();
    let rego = host.load(&file(&bundle)).unwrap();
    assert_eq!(rego.metadata().abi, "promote.opa/v1");
    assert_eq!(rego.name(), "qa-approved-rego");
    assert_eq!(
        rego.opa_builtins(),
        Some(&[][..]),
        "everything it uses is compiled into the module"
    );
    let builtin = host
        .load(&ModuleSource::Builtin("qa-approved".into()))
        .unwrap();
    let mut ran = 0;
    for dir in [
        workspace_root().join("policies/cases/qa-approved"),
        example_dir().join("cases"),
    ] {
        for (path, case) in load_cases(&dir).unwrap() {
            // Both languages must agree on every case: the Rego one is a faithful port.
            for (which, policy) in [("rego", &rego), ("rust built-in", &builtin)] {
                if let Err(problems) = run_case(&host, policy, &case) {
                    panic!("{which} on {}:\n{problems}", path.display());
                }
            }
            ran += 1;
        }
    }
    assert!(ran >= 14, "only {ran} cases ran");
}

#[test]
fn allow_deny_and_require_approval_come_through_with_their_reasons() {
    let host = host();
    let policy = host.load(&file(&example_bundle())).unwrap();
    let mut req = request();
    let waiting = host.evaluate(&policy, &req).unwrap();
    assert_eq!(waiting.decision.decision, Verdict::RequireApproval);
    assert_eq!(waiting.decision.required_approvals[0].id, "qa@staging");
    assert!(waiting.fuel_used > 0);
    let approval = json!({"environment": "staging", "version": "v1.0.1", "role": "qa", "verdict": "approved",
        "images": {"cart": {"tag": "v1.0.1", "digest": null}}, "by": {"name": "Quinn", "email": null, "verified": true},
        "at": "2026-11-25T12:00:00Z", "note": null});
    req.approvals = vec![serde_json::from_value(approval.clone()).unwrap()];
    let allowed = host.evaluate(&policy, &req).unwrap();
    assert_eq!(
        allowed.decision.decision,
        Verdict::Allow,
        "{:?}",
        allowed.decision
    );
    assert_eq!(
        allowed.decision.reasons[0].message,
        "Quinn approved v1.0.1 on staging at 2026-11-25T12:00:00Z"
    );
    let mut rejected = approval;
    rejected["verdict"] = json!("rejected");
    rejected["note"] = json!("checkout is broken");
    req.approvals
        .push(serde_json::from_value(rejected).unwrap());
    let denied = host.evaluate(&policy, &req).unwrap();
    assert_eq!(denied.decision.decision, Verdict::Deny);
    assert!(
        denied.decision.reasons[0]
            .message
            .ends_with("checkout is broken"),
        "{:?}",
        denied.decision
    );
}

#[test]
fn an_undefined_decision_is_a_policy_error() {
    let host = host();
    let policy = host
        .load(&rego(r#"package promote
decision := {"apiVersion": "policy.promote.kubectl.io/v1alpha1", "kind": "Decision", "decision": "allow"} if input.operation == "nothing"
"#))
        .unwrap();
    let err = host.evaluate(&policy, &request()).unwrap_err();
    assert_eq!(
        err,
        PolicyError::Undefined {
            entrypoint: DECISION.into()
        }
    );
    assert!(
        err.to_string().contains("left promote/decision undefined"),
        "{err}"
    );
}

#[test]
fn a_value_that_is_not_a_decision_is_a_policy_error() {
    let host = host();
    let policy = host
        .load(&rego(
            "package promote\ndecision := {\"decision\": \"maybe\"}\n",
        ))
        .unwrap();
    let err = host.evaluate(&policy, &request()).unwrap_err();
    assert!(
        matches!(
            &err,
            PolicyError::InvalidOutput {
                expected: "Decision",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn builtins_opa_wasm_only_stubs_are_refused_at_load_by_name() {
    let host = host();
    for (builtin, body) in [
        (
            "http.send",
            r#"http.send({"method": "GET", "url": "https://example.com"}).status_code == 200"#,
        ),
        (
            "regex.split",
            r#"count(regex.split(",", input.promotion.version)) > 0"#,
        ),
        (
            "net.cidr_expand",
            r#"count(net.cidr_expand("10.0.0.0/30")) > 0"#,
        ),
    ] {
        let src = format!(
            "package promote\ndecision := {{\"apiVersion\": \"policy.promote.kubectl.io/v1alpha1\", \"kind\": \"Decision\", \"decision\": \"allow\"}} if {{\n  {body}\n}}\n"
        );
        let source = rego(&src);
        let origin = source.origin().to_string();
        let Err(err) = host.load(&source) else {
            panic!("{builtin} must be refused")
        };
        match &err {
            LoadError::UnsupportedBuiltins { builtins, .. } => {
                assert_eq!(builtins, &[builtin.to_owned()])
            }
            other => panic!("{builtin}: {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains(builtin) && msg.contains(&origin), "{msg}");
    }
    // A builtin the host does provide loads and runs (time.now_ns, on the request's clock).
    let policy = host.load(&rego(CLOCK)).unwrap();
    assert_eq!(
        policy.opa_builtins(),
        Some(&["time.now_ns".to_owned(), "time.parse_rfc3339_ns".to_owned()][..])
    );
    let ev = host.evaluate(&policy, &request()).unwrap();
    assert_eq!(
        ev.decision.warnings,
        vec!["clock=context.now".to_owned(), "v1.0.1".to_owned()]
    );
}

/// Reports whether `time.now_ns()` (a host builtin) is the request's `context.now`, and the version.
const CLOCK: &str = r#"package promote
clock := "clock=context.now" if time.now_ns() == time.parse_rfc3339_ns(input.context.now) else := "clock=other"
decision := {"apiVersion": "policy.promote.kubectl.io/v1alpha1", "kind": "Decision", "decision": "allow", "warnings": [clock, input.promotion.version]}
"#;

/// 25 million iterations: far more than any fuel or time limit below allows.
const SPIN: &str = r#"package promote
n := count([1 | some i in numbers.range(1, 5000); some j in numbers.range(1, 5000); i != j])
decision := {"apiVersion": "policy.promote.kubectl.io/v1alpha1", "kind": "Decision", "decision": "allow", "warnings": [format_int(n, 10)]}
"#;

#[test]
fn an_expensive_rego_loop_runs_out_of_fuel() {
    let host = host_with(Limits {
        fuel: 20_000_000,
        ..Limits::DEFAULT
    });
    let policy = host.load(&rego(SPIN)).unwrap();
    let err = host.evaluate(&policy, &request()).unwrap_err();
    assert_eq!(err, PolicyError::OutOfFuel { limit: 20_000_000 });
    // The same host still runs a well-behaved Rego module.
    let ok = host.load(&rego(ALLOW_REGO)).unwrap();
    assert_eq!(
        host.evaluate(&ok, &request()).unwrap().decision.decision,
        Verdict::Allow
    );
}

#[test]
fn an_expensive_rego_loop_hits_the_deadline() {
    // Memory out of the way too: on a loaded machine the comprehension could reach the default
    // 128 MiB before the epoch ticker's deadline lands, and this test is about the deadline.
    let host = host_with(Limits {
        fuel: u64::MAX / 2,
        timeout: Duration::from_millis(200),
        memory_bytes: 2 << 30,
    });
    let policy = host.load(&rego(SPIN)).unwrap();
    let started = Instant::now();
    let err = host.evaluate(&policy, &request()).unwrap_err();
    assert_eq!(err, PolicyError::TimedOut { ms: 200 });
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_rego_memory_bomb_hits_the_memory_limit() {
    let host = host_with(Limits {
        memory_bytes: 16 << 20,
        fuel: u64::MAX / 2,
        timeout: Duration::from_secs(10),
    });
    let policy = host
        .load(&rego(r#"package promote
big := numbers.range(1, 10000000)
decision := {"apiVersion": "policy.promote.kubectl.io/v1alpha1", "kind": "Decision", "decision": "allow", "warnings": [format_int(count(big), 10)]}
"#))
        .unwrap();
    let err = host.evaluate(&policy, &request()).unwrap_err();
    assert!(
        matches!(err, PolicyError::MemoryLimit { limit_mib: 16, .. }),
        "{err:?}"
    );
}

#[test]
fn every_evaluation_gets_a_fresh_instance() {
    let host = host();
    let policy = host.load(&file(&example_bundle())).unwrap();
    let req = request();
    // A fresh instance pays for instantiation, the builtin and entrypoint tables and loading
    // `data` on every call; a reused one would pay only on the first. Same cost every time:
    let costs: Vec<u64> = (0..3)
        .map(|_| host.evaluate(&policy, &req).unwrap().fuel_used)
        .collect();
    assert!(
        costs.iter().all(|&c| c == costs[0]),
        "fuel per call differs: {costs:?}"
    );
    // And nothing of one request is seen by the next: the clock is each request's own.
    let clock = host.load(&rego(CLOCK)).unwrap();
    let mut later = request();
    later.context.now = "2026-11-27T11:00:00Z".into();
    if let promote_policy::sdk::Operation::Promote(p) = &mut later.operation {
        p.version = "v9.9.9".into();
    }
    for (r, version) in [(&req, "v1.0.1"), (&later, "v9.9.9"), (&req, "v1.0.1")] {
        let ev = host.evaluate(&clock, r).unwrap();
        assert_eq!(
            ev.decision.warnings,
            vec!["clock=context.now".to_owned(), version.to_owned()]
        );
    }
}

#[test]
fn validate_settings_uses_the_optional_entrypoint() {
    let host = host();
    let policy = host.load(&file(&example_bundle())).unwrap();
    assert!(
        host.validate_settings(&policy, &json!({"role": "qa"}))
            .unwrap()
            .valid
    );
    let bad = host
        .validate_settings(&policy, &json!({"rol": "qa"}))
        .unwrap();
    assert!(!bad.valid);
    assert!(bad.message.unwrap().contains("\"rol\""));
    // Without the entrypoint, any settings are accepted.
    let plain = host.load(&rego(ALLOW_REGO)).unwrap();
    assert!(
        host.validate_settings(&plain, &json!({"anything": 1}))
            .unwrap()
            .valid
    );
}

#[test]
fn a_bare_policy_wasm_needs_a_sidecar_and_loads_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("tar")
        .args(["xzf"])
        .arg(example_bundle())
        .args(["-C"])
        .arg(dir.path())
        .arg("/policy.wasm")
        .status()
        .unwrap();
    assert!(status.success());
    let wasm = dir.path().join("policy.wasm");
    let host = host();
    let err = host.load(&file(&wasm)).err().expect("no metadata");
    assert!(err.to_string().contains("promote-policy.yaml"), "{err}");
    std::fs::write(
        dir.path().join("promote-policy.yaml"),
        "name: qa-approved-rego\nversion: 0.1.0\nabi: promote.opa/v1\noperations: [promote]\n",
    )
    .unwrap();
    let policy = host.load(&file(&wasm)).unwrap();
    assert_eq!(
        host.evaluate(&policy, &request())
            .unwrap()
            .decision
            .decision,
        Verdict::RequireApproval
    );
}

#[test]
fn bundles_are_pinned_cached_and_checked() {
    let bundle = example_bundle();
    let bytes = std::fs::read(&bundle).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let host = Host::new(HostConfig::new(CacheMode::Dir(dir.path().into()))).unwrap();
    // The pin is the digest of the file as configured (the bundle).
    let pinned = ModuleSource::Bytes {
        label: "rego.tar.gz".into(),
        bytes: bytes.clone(),
        sha256: Some(Sha256::of(&bytes)),
    };
    assert_eq!(
        host.load(&pinned).unwrap().cache_status(),
        CacheStatus::Miss
    );
    assert_eq!(host.load(&pinned).unwrap().cache_status(), CacheStatus::Hit);
    // Keyed by the bundle's digest (not the policy.wasm's inside it), so the compiled module
    // is found while the bundle is still being unpacked.
    let artifact = host.cache_path_of(&bytes).unwrap();
    assert_eq!(Some(artifact.clone()), host.cache_path(&Sha256::of(&bytes)));
    assert!(artifact.is_file(), "{}", artifact.display());
    let wrong = ModuleSource::Bytes {
        label: "rego.tar.gz".into(),
        bytes: bytes.clone(),
        sha256: Some(Sha256([7; 32])),
    };
    assert!(matches!(
        host.load(&wrong),
        Err(LoadError::PinMismatch { .. })
    ));
    // Built without the decision entrypoint: refused, naming it.
    let other = build_files(
        &[
            ("policy.rego", "package promote\nother := 1\n"),
            (".manifest", MANIFEST),
        ],
        &["promote/other"],
    );
    let err = host.load(&file(&other)).err().expect("no entrypoint");
    assert!(
        err.to_string().contains("no entrypoint promote/decision"),
        "{err}"
    );
    // A bundle whose manifest declares the WASI ABI is refused as a mismatch.
    let wasi = build_files(
        &[
            ("policy.rego", ALLOW_REGO),
            (
                ".manifest",
                &MANIFEST.replace("promote.opa/v1", "promote.wasi-command/v1"),
            ),
        ],
        &[DECISION],
    );
    assert!(matches!(
        host.load(&file(&wasi)),
        Err(LoadError::AbiMismatch { .. })
    ));
    // No metadata at all: says where to put it.
    let bare = build_files(&[("policy.rego", ALLOW_REGO)], &[DECISION]);
    let err = host.load(&file(&bare)).err().expect("no metadata");
    assert!(
        err.to_string().contains("metadata.kubectl-promote"),
        "{err}"
    );
    // Garbage that looks gzip'd is a clear error, not a panic.
    let junk = ModuleSource::Bytes {
        label: "junk.tar.gz".into(),
        bytes: vec![0x1f, 0x8b, 0, 1, 2, 3],
        sha256: None,
    };
    assert!(matches!(host.load(&junk), Err(LoadError::Opa { .. })));
}

/// The load record beside a cached bundle's artifact (`<sha256>.cwasm.load`).
fn load_record(artifact: &Path) -> PathBuf {
    PathBuf::from(format!("{}.load", artifact.display()))
}

/// A load record for the entry at `artifact` with `body`, hashed as the cache hashes one (its
/// format is the cache's, docs in `cache.rs`): what a record written by the host looks like.
fn forged_record(artifact: &Path, sha256: &Sha256, body: &str) -> String {
    let engine_key = artifact
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap();
    let vouched = std::fs::read_to_string(format!("{}.integrity", artifact.display())).unwrap();
    let mut h = blake3::Hasher::new();
    h.update(b"kubectl-promote load record v1\0");
    h.update(engine_key.as_bytes());
    h.update(b"\0");
    h.update(&sha256.0);
    h.update(vouched.trim().as_bytes());
    h.update(b"\0");
    h.update(body.as_bytes());
    format!("{}\n{body}", h.finalize().to_hex())
}

/// A cached bundle's entry holds what loading learned from the bundle (manifest metadata,
/// data.json, the declared builtins and entrypoints) in a load record bound to the artifact:
/// the next load takes it from there and reads no tarball. A changed record is never trusted
/// (the entry is rebuilt from the bundle), nor is one from another entry, nor one others could
/// write; a record from a build with other load checks is replaced.
#[test]
fn a_cached_bundle_loads_from_its_load_record_and_a_changed_one_is_rebuilt() {
    let bundle = example_bundle();
    let bytes = std::fs::read(&bundle).unwrap();
    let sha = Sha256::of(&bytes);
    let dir = tempfile::tempdir().unwrap();
    let cache = || Host::new(HostConfig::new(CacheMode::Dir(dir.path().into()))).unwrap();
    let source = file(&bundle);
    let first = cache().load(&source).unwrap();
    assert_eq!(first.cache_status(), CacheStatus::Miss);
    let version = first.metadata().version.clone();
    let artifact = cache().cache_path(&sha).unwrap();
    let record = load_record(&artifact);
    let text = std::fs::read_to_string(&record).expect("a load record beside the artifact");
    let (_, body) = text.split_once('\n').unwrap();
    let fields: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(fields["metadata"]["version"], json!(version), "{body}");
    assert!(
        fields["entrypoints"]
            .as_array()
            .unwrap()
            .contains(&json!("promote/validate_settings")),
        "{body}"
    );

    // What the record says is what loads: the bundle is not read on a hit.
    let told = body.replace(
        &format!("\"version\":\"{version}\""),
        "\"version\":\"9.9.9\"",
    );
    assert_ne!(told, body);
    std::fs::write(&record, forged_record(&artifact, &sha, &told)).unwrap();
    let hit = cache().load(&source).unwrap();
    assert_eq!(hit.cache_status(), CacheStatus::Hit);
    assert_eq!(hit.metadata().version, "9.9.9");
    // Loaded from the record, it evaluates, and validates settings with its entrypoint.
    let host = cache();
    let policy = host.load(&source).unwrap();
    assert_eq!(policy.cache_status(), CacheStatus::Hit);
    assert!(host.evaluate(&policy, &request()).is_ok());
    let bad = host
        .validate_settings(&policy, &json!({"rol": "qa"}))
        .unwrap();
    assert!(!bad.valid);

    // The same change without a matching hash: the entry is rebuilt from the bundle.
    std::fs::write(&record, text.replace(body, &told)).unwrap();
    let healed = cache().load(&source).unwrap();
    assert_eq!(healed.cache_status(), CacheStatus::Healed(Heal::Corrupt));
    assert_eq!(healed.metadata().version, version);
    assert_eq!(std::fs::read_to_string(&record).unwrap(), text, "rewritten");
    assert_eq!(
        cache().load(&source).unwrap().cache_status(),
        CacheStatus::Hit
    );

    // Another bundle's record, copied over this one: bound to that entry, not trusted here.
    let other = file(&build_files(
        &[("policy.rego", ALLOW_REGO), (".manifest", MANIFEST)],
        &[DECISION],
    ));
    let other_sha = cache().load(&other).unwrap().sha256();
    std::fs::copy(
        load_record(&cache().cache_path(&other_sha).unwrap()),
        &record,
    )
    .unwrap();
    assert_eq!(
        cache().load(&source).unwrap().cache_status(),
        CacheStatus::Healed(Heal::Corrupt)
    );
    assert_eq!(std::fs::read_to_string(&record).unwrap(), text);

    // Written under other load checks (another build): not used, and replaced.
    let stale = body.replace("\"checks\":\"", "\"checks\":\"0.0.0-other ");
    assert_ne!(stale, body);
    std::fs::write(
        &record,
        forged_record(&artifact, &sha, &stale.replace(&version, "9.9.9")),
    )
    .unwrap();
    let reread = cache().load(&source).unwrap();
    assert_eq!(reread.cache_status(), CacheStatus::Hit);
    assert_eq!(reread.metadata().version, version);
    assert_eq!(std::fs::read_to_string(&record).unwrap(), text);

    // A record others could write is no record: the bundle is read again.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::write(&record, forged_record(&artifact, &sha, &told)).unwrap();
        std::fs::set_permissions(&record, std::fs::Permissions::from_mode(0o666)).unwrap();
        let unread = cache().load(&source).unwrap();
        assert_eq!(unread.cache_status(), CacheStatus::Hit);
        assert_eq!(unread.metadata().version, version);
    }
}

/// The cache is keyed by the bytes of the bundle file: the same policy in a bundle with other
/// bytes (here, the same tarball compressed harder) is a miss with an entry of its own, never
/// the other bundle's entry.
#[test]
fn changed_bundle_bytes_are_a_cache_miss() {
    use std::io::{Read as _, Write as _};
    let bytes = std::fs::read(example_bundle()).unwrap();
    let mut tarball = Vec::new();
    flate2::read::GzDecoder::new(bytes.as_slice())
        .read_to_end(&mut tarball)
        .unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&tarball).unwrap();
    let repacked = gz.finish().unwrap();
    assert_ne!(repacked, bytes);
    let dir = tempfile::tempdir().unwrap();
    let host = Host::new(HostConfig::new(CacheMode::Dir(dir.path().into()))).unwrap();
    let bundle = |bytes: &[u8]| ModuleSource::Bytes {
        label: "bundle.tar.gz".into(),
        bytes: bytes.to_vec(),
        sha256: None,
    };
    assert_eq!(
        host.load(&bundle(&bytes)).unwrap().cache_status(),
        CacheStatus::Miss
    );
    assert_eq!(
        host.load(&bundle(&bytes)).unwrap().cache_status(),
        CacheStatus::Hit
    );
    let other = host.load(&bundle(&repacked)).unwrap();
    assert_eq!(other.cache_status(), CacheStatus::Miss);
    assert_ne!(
        host.cache_path_of(&repacked).unwrap(),
        host.cache_path_of(&bytes).unwrap()
    );
    assert!(load_record(&host.cache_path_of(&repacked).unwrap()).is_file());
    assert_eq!(
        host.load(&bundle(&repacked)).unwrap().cache_status(),
        CacheStatus::Hit
    );
}

/// What `opa eval` makes of `promote/decision` for `input`, the policy loaded from its sources
/// (`policy.rego`, no tests), as `opa test` sees it.
fn opa_eval_decision(dir: &Path, input: &serde_json::Value) -> serde_json::Value {
    let tmp = tempfile::tempdir().unwrap();
    let input_file = tmp.path().join("input.json");
    std::fs::write(&input_file, serde_json::to_vec(input).unwrap()).unwrap();
    let out = std::process::Command::new("opa")
        .args(["eval", "--format", "json", "--data"])
        .arg(dir.join("policy.rego"))
        .arg("--input")
        .arg(&input_file)
        .arg("data.promote.decision")
        .output()
        .expect("opa eval");
    assert!(
        out.status.success(),
        "opa eval in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["result"][0]["expressions"][0]["value"].clone()
}

/// The parts of a Decision both sides must agree on, in a comparable form.
fn comparable(d: &serde_json::Value) -> serde_json::Value {
    let list = |key: &str| d.get(key).cloned().unwrap_or_else(|| json!([]));
    // `verified: false` is the default; the host's Decision leaves it out.
    let approvals: Vec<serde_json::Value> = list("requiredApprovals")
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            let mut a = a.clone();
            if a.get("verified").is_none() {
                a["verified"] = json!(false);
            }
            a
        })
        .collect();
    json!({
        "decision": d["decision"],
        "reasons": list("reasons"),
        "requiredApprovals": approvals,
        "warnings": list("warnings"),
        "overridable": d.get("overridable").cloned().unwrap_or(json!(true)),
    })
}

/// Parity: every case of the example Rego policies decides the same under `opa eval` (what
/// `opa test` runs) and in the sandbox: verdict, every reason's code and message, the required
/// approvals and the warnings.
#[test]
fn the_example_rego_policies_decide_alike_under_opa_eval_and_in_the_sandbox() {
    let host = host();
    let mut compared = 0;
    for name in ["qa-approved", "sensitive-objects"] {
        let dir = workspace_root().join("examples/policies/rego").join(name);
        let bundle = build_dir(&dir, &[DECISION, "promote/validate_settings"]);
        let policy = host.load(&file(&bundle)).unwrap();
        for (path, case) in load_cases(&dir.join("cases")).unwrap() {
            let Some(request) = &case.request else {
                continue;
            };
            let mut request = request.clone();
            request.settings = case.settings.clone();
            let sandbox = host
                .evaluate(&policy, &request)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let sandbox = serde_json::to_value(&sandbox.decision).unwrap();
            let opa = opa_eval_decision(&dir, &serde_json::to_value(&request).unwrap());
            assert_eq!(
                comparable(&sandbox),
                comparable(&opa),
                "{}: the sandbox (left) and opa eval (right) differ",
                path.display()
            );
            compared += 1;
        }
    }
    assert!(compared >= 15, "only {compared} cases compared");
}

/// `sprintf` with a Go verb the sandbox cannot format (`%v`, `%q`) passes `opa test` and would
/// trap in the sandbox: the module is refused when it loads, naming the verbs and the format.
/// With `%s` and `%d` it loads, and formats as `opa eval` does.
#[test]
fn sprintf_verbs_the_sandbox_cannot_run_are_refused_at_load_by_name() {
    let host = host();
    let with = |format: &str| {
        format!(
            r#"package promote
decision := {{"apiVersion": "policy.promote.kubectl.io/v1alpha1", "kind": "Decision", "decision": "deny",
  "reasons": [{{"code": "Said", "message": sprintf("{format}", [input.promotion.environment, count(input.promotion.images)])}}]}}
"#
        )
    };
    let refused = host
        .load(&rego(&with("%v runs %q images")))
        .map(|_| ())
        .unwrap_err();
    let message = refused.to_string();
    assert!(
        matches!(refused, LoadError::UnsupportedSprintf { .. })
            && message.contains("%v, %q")
            && message.contains("\"%v runs %q images\""),
        "{message}"
    );

    let source = with("%s runs %d images");
    let policy = host.load(&rego(&source)).unwrap();
    let decision = host.evaluate(&policy, &request()).unwrap().decision;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.rego"), &source).unwrap();
    let opa = opa_eval_decision(dir.path(), &serde_json::to_value(request()).unwrap());
    assert_eq!(decision.reasons[0].message, opa["reasons"][0]["message"]);
    assert!(
        decision.reasons[0].message.starts_with("prod runs "),
        "{decision:?}"
    );
}
