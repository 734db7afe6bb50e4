//! The host against hostile modules (inline WAT), the built-ins against their `cases/`, the
//! compiled-module cache, pins, metadata and combining.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use promote_policy::cases::{load_cases, run_case};
use promote_policy::sdk::{Decision, EvaluationRequest, Reason, RequiredApproval, Verdict};
use promote_policy::{
    Allocation, BUILTIN_NAMES, BreakGlass, CacheMode, CacheStatus, ConfiguredPolicy, Evaluation,
    FailurePolicy, Heal, Host, HostConfig, Limits, LoadError, ModuleSource, OverrideOutcome,
    PolicyError, PolicyOutcome, Sha256, combine,
};
use serde_json::json;

mod rego;

const META: &str = r#"(@custom "kubectl-promote.policy.v1" "{\"name\":\"t\",\"version\":\"0\",\"abi\":\"promote.wasi-command/v1\",\"operations\":[\"promote\"]}")"#;
const ALLOW: &str = r#"{\"apiVersion\":\"policy.promote.kubectl.io/v1alpha1\",\"kind\":\"Decision\",\"decision\":\"allow\"}"#;
const DENY: &str = r#"{\"apiVersion\":\"policy.promote.kubectl.io/v1alpha1\",\"kind\":\"Decision\",\"decision\":\"deny\",\"reasons\":[{\"code\":\"Sandbox\",\"message\":\"the sandbox leaked\"}]}"#;
/// 2026-11-26T11:00:00Z, the request's `context.now`, in ns.
const NOW_NS: u64 = 1_795_690_800_000_000_000;

fn host_with(limits: Limits) -> Host {
    let mut config = HostConfig::new(CacheMode::Disabled);
    config.defaults = limits;
    Host::new(config).unwrap()
}

fn host() -> Host {
    host_with(Limits::DEFAULT)
}

fn wat(text: &str) -> ModuleSource {
    ModuleSource::Bytes {
        label: "test.wat".into(),
        bytes: wat::parse_str(text).expect("test WAT parses"),
        sha256: None,
    }
}

/// A WASI command whose `_start` writes `json` to stdout.
fn writes(json: &str) -> String {
    format!(
        r#"(module {META}
          (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 64) "{json}")
          (func (export "_start")
            (i32.store (i32.const 0) (i32.const 64))
            (i32.store (i32.const 4) (i32.const {len}))
            (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))"#,
        len = unescaped_len(json),
    )
}

fn unescaped_len(s: &str) -> usize {
    s.replace("\\\"", "\"").len()
}

fn request() -> EvaluationRequest {
    serde_json::from_value(json!({
      "apiVersion": "policy.promote.kubectl.io/v1alpha1", "kind": "EvaluationRequest",
      "operation": "promote", "settings": {},
      "promotion": {"environment": "prod", "from": "staging", "version": "v1.0.1", "previousVersion": "v1.0.0",
        "images": [{"name": "cart", "newName": null, "from": {"tag": "v1.0.0", "digest": null}, "to": {"tag": "v1.0.1", "digest": null}}],
        "mode": "pr", "override": null,
        "requestedBy": {"name": "Ana", "email": "ana@example.com", "kubeUser": null, "verified": false}},
      "rollback": null,
      "environments": {"staging": {"version": "v1.0.1", "images": {"cart": {"tag": "v1.0.1", "digest": null}}, "git": null, "argocd": null}},
      "approvals": [],
      "context": {"now": "2026-11-26T11:00:00Z", "dryRun": false, "promoteVersion": "0.1.0"}
    }))
    .unwrap()
}

/// After a hostile module, the same host still loads and runs a well-behaved one.
fn assert_still_usable(host: &Host) {
    let policy = host.load(&wat(&writes(ALLOW))).unwrap();
    let ev = host.evaluate(&policy, &request()).unwrap();
    assert_eq!(ev.decision.decision, Verdict::Allow);
}

fn eval_err(host: &Host, module: &str) -> (PolicyError, Duration) {
    let policy = host.load(&wat(module)).unwrap();
    let started = Instant::now();
    let err = host
        .evaluate(&policy, &request())
        .expect_err("the module must fail");
    (err, started.elapsed())
}

#[test]
fn endless_loop_hits_the_deadline() {
    let host = host_with(Limits {
        timeout: Duration::from_millis(200),
        fuel: u64::MAX / 2,
        ..Limits::DEFAULT
    });
    let (err, elapsed) = eval_err(&host, &endless_loop());
    assert_eq!(err, PolicyError::TimedOut { ms: 200 });
    // The message says how a module that needs longer gets it.
    let text = err.to_string();
    assert!(
        text.starts_with("timed out after 200 ms;")
            && text.contains("`resources: {timeoutMs: N}`")
            && text.contains("\"Limits\" in docs/policies.md"),
        "{text}"
    );
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert_still_usable(&host);
}

#[test]
fn endless_loop_runs_out_of_fuel() {
    let host = host_with(Limits {
        fuel: 1_000_000,
        ..Limits::DEFAULT
    });
    let (err, elapsed) = eval_err(&host, &endless_loop());
    assert_eq!(err, PolicyError::OutOfFuel { limit: 1_000_000 });
    assert!(err.to_string().contains("`resources: {fuel: N}`"), "{err}");
    assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    assert_still_usable(&host);
}

/// A module that grows its memory until it is refused, then traps.
fn memory_bomb() -> String {
    format!(
        r#"(module {META} (memory (export "memory") 1)
          (func (export "_start")
            (loop (br_if 0 (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
            unreachable))"#
    )
}

/// A module that never returns.
fn endless_loop() -> String {
    format!(
        r#"(module {META} (memory (export "memory") 1) (func (export "_start") (loop (br 0))))"#
    )
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    let host = host();
    let (err, elapsed) = eval_err(&host, &memory_bomb());
    match err {
        PolicyError::MemoryLimit {
            limit_mib: 128,
            wanted,
        } => assert!(wanted > 128 << 20),
        ref other => panic!("expected a memory limit error, got {other:?}"),
    }
    assert!(
        err.to_string().contains("`resources: {memoryMiB: N}`"),
        "{err}"
    );
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert_still_usable(&host);
}

#[test]
fn foreign_imports_are_refused_by_name() {
    let host = host();
    let err = host
        .load(&wat(&format!(
            r#"(module {META} (import "env" "foo" (func)) (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
                (memory (export "memory") 1) (func (export "_start")))"#
        )))
        .err()
        .unwrap();
    assert!(
        matches!(&err, LoadError::RefusedImport { imports, .. } if imports == &["env::foo"]),
        "{err:?}"
    );
    assert!(err.to_string().contains("imports env::foo"), "{err}");
    assert_still_usable(&host);
}

#[test]
fn missing_exports_are_named() {
    let host = host();
    let err = host
        .load(&wat(&format!(
            r#"(module {META} (memory (export "memory") 1) (func (export "main")))"#
        )))
        .err()
        .unwrap();
    assert!(
        matches!(err, LoadError::MissingExport { name: "_start", .. }),
        "{err:?}"
    );
    let err = host
        .load(&wat(&format!(
            r#"(module {META} (memory 1) (func (export "_start")))"#
        )))
        .err()
        .unwrap();
    assert!(
        matches!(err, LoadError::MissingExport { name: "memory", .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("does not export memory"), "{err}");
}

#[test]
fn ten_mib_of_stdout_is_refused() {
    let host = host();
    let (err, elapsed) = eval_err(
        &host,
        &format!(
            r#"(module {META}
              (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
              (memory (export "memory") 2)
              (func (export "_start") (local $i i32)
                (i32.store (i32.const 0) (i32.const 16))
                (i32.store (i32.const 4) (i32.const 65536))
                (loop
                  (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
                  (local.set $i (i32.add (local.get $i) (i32.const 1)))
                  (br_if 0 (i32.lt_u (local.get $i) (i32.const 160))))))"#
        ),
    );
    assert_eq!(
        err,
        PolicyError::OutputTooLarge {
            stream: "stdout",
            limit: 1 << 20
        }
    );
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert_still_usable(&host);
}

#[test]
fn invalid_json_carries_the_serde_message() {
    let host = host();
    let (err, _) = eval_err(&host, &writes("this is not json"));
    match &err {
        PolicyError::InvalidOutput {
            expected: "Decision",
            message,
            ..
        } => {
            assert!(message.contains("expected"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    // Well-formed JSON that breaks the contract is invalid too, with the reason.
    let (err, _) = eval_err(
        &host,
        &writes(
            r#"{\"apiVersion\":\"policy.promote.kubectl.io/v1alpha1\",\"kind\":\"Decision\",\"decision\":\"deny\"}"#,
        ),
    );
    assert!(err.to_string().contains("`reasons` is empty"), "{err}");
    // Two documents are not one.
    let (err, _) = eval_err(&host, &writes(&format!("{ALLOW}{ALLOW}")));
    assert!(matches!(err, PolicyError::InvalidOutput { .. }), "{err:?}");
    assert_still_usable(&host);
}

/// A guest's words reach terminals, PR bodies and trailers: terminal escapes, other control
/// characters and bidi overrides in its reasons and warnings are shown escaped, never
/// interpreted (a denial cannot erase its own line and print "allowed" over it).
#[test]
fn a_guests_terminal_escapes_are_shown_not_interpreted() {
    let host = host();
    // JSON escapes in a WAT string: `\\u001b` is the six bytes `\u001b` JSON decodes to ESC.
    let json = r#"{\"apiVersion\":\"policy.promote.kubectl.io/v1alpha1\",\"kind\":\"Decision\",\"decision\":\"deny\",\"reasons\":[{\"code\":\"Nope\",\"message\":\"\\u001b[2K\\u001b[1Aallowed \\u202egnp.exe\"}],\"warnings\":[\"bell\\u0007\\r\"]}"#;
    let len = json.replace("\\\"", "\"").replace("\\\\", "\\").len();
    let module = writes(json).replace(
        &format!("(i32.const {})", unescaped_len(json)),
        &format!("(i32.const {len})"),
    );
    let policy = host.load(&wat(&module)).unwrap();
    let ev = host.evaluate(&policy, &request()).unwrap();
    let d = ev.decision;
    assert_eq!(
        d.reasons[0].message,
        "\\u{1b}[2K\\u{1b}[1Aallowed \\u{202e}gnp.exe"
    );
    assert_eq!(d.warnings, vec!["bell\\u{7}\\u{d}".to_owned()]);
    assert!(!d.reasons[0].message.contains('\u{1b}'));
}

#[test]
fn nonzero_exit_reports_code_and_stderr() {
    let host = host();
    let msg = "boom: settings.days is not a list";
    let (err, _) = eval_err(
        &host,
        &format!(
            r#"(module {META}
              (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
              (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
              (memory (export "memory") 1)
              (data (i32.const 64) "{msg}")
              (func (export "_start")
                (i32.store (i32.const 0) (i32.const 64))
                (i32.store (i32.const 4) (i32.const {len}))
                (drop (call $w (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
                (call $exit (i32.const 7))))"#,
            len = msg.len()
        ),
    );
    assert_eq!(
        err,
        PolicyError::Exit {
            code: 7,
            stderr_tail: msg.into()
        }
    );
    assert_eq!(err.to_string(), format!("exited with code 7: {msg}"));
    assert_still_usable(&host);
}

#[test]
fn traps_are_policy_errors() {
    let host = host();
    let (err, _) = eval_err(
        &host,
        &format!(
            r#"(module {META} (memory (export "memory") 1) (func (export "_start") unreachable))"#
        ),
    );
    assert!(
        matches!(&err, PolicyError::Trap { message, .. } if message.contains("unreachable")),
        "{err:?}"
    );
}

/// No preopened directory, no environment, the wall clock at `context.now`: the module writes
/// the allow decision only if all three hold.
#[test]
fn the_sandbox_has_no_files_no_env_and_a_fixed_clock() {
    let host = host();
    let module = format!(
        r#"(module {META}
          (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "path_open" (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "environ_sizes_get" (func $envsz (param i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 100) "/etc/passwd")
          (data (i32.const 200) "{ALLOW}")
          (data (i32.const 400) "{DENY}")
          (func $out (param $at i32) (param $len i32)
            (i32.store (i32.const 0) (local.get $at))
            (i32.store (i32.const 4) (local.get $len))
            (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
          (func (export "_start") (local $leak i32)
            ;; a preopen would be fd 3
            (if (i32.eqz (call $prestat (i32.const 3) (i32.const 16))) (then (local.set $leak (i32.const 1))))
            ;; open a file relative to fd 3, and to the root-looking fd 4
            (if (i32.eqz (call $open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 11) (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 32)))
              (then (local.set $leak (i32.const 1))))
            (if (i32.eqz (call $open (i32.const 4) (i32.const 0) (i32.const 100) (i32.const 11) (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 32)))
              (then (local.set $leak (i32.const 1))))
            ;; no environment variables
            (drop (call $envsz (i32.const 40) (i32.const 44)))
            (if (i32.ne (i32.load (i32.const 40)) (i32.const 0)) (then (local.set $leak (i32.const 1))))
            ;; realtime clock == context.now
            (drop (call $clock (i32.const 0) (i64.const 1) (i32.const 48)))
            (if (i64.ne (i64.load (i32.const 48)) (i64.const {NOW_NS})) (then (local.set $leak (i32.const 1))))
            (if (local.get $leak)
              (then (call $out (i32.const 400) (i32.const {deny_len})))
              (else (call $out (i32.const 200) (i32.const {allow_len}))))))"#,
        deny_len = unescaped_len(DENY),
        allow_len = unescaped_len(ALLOW),
    );
    let policy = host.load(&wat(&module)).unwrap();
    let ev = host.evaluate(&policy, &request()).unwrap();
    assert_eq!(
        ev.decision.decision,
        Verdict::Allow,
        "{:?}",
        ev.decision.reasons
    );
    // The clock check can fail: another `now` makes the same module deny.
    let mut later = request();
    later.context.now = "2026-11-26T11:00:01Z".into();
    assert_eq!(
        host.evaluate(&policy, &later).unwrap().decision.decision,
        Verdict::Deny
    );
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn builtins_pass_their_cases() {
    let host = host();
    let mut failures = Vec::new();
    for name in BUILTIN_NAMES {
        let policy = host.load(&ModuleSource::Builtin((*name).into())).unwrap();
        assert_eq!(policy.name(), *name);
        let dir = repo_root().join("policies/cases").join(name);
        let cases = load_cases(&dir).unwrap();
        let verdicts: Vec<_> = cases
            .iter()
            .filter_map(|(_, c)| c.expect.decision)
            .collect();
        assert!(
            verdicts.contains(&Verdict::Allow) && verdicts.contains(&Verdict::Deny),
            "{name}: cases must cover allow and deny"
        );
        for (path, case) in &cases {
            if let Err(e) = run_case(&host, &policy, case) {
                failures.push(format!("{}: {e}", path.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn builtins_validate_their_settings() {
    let host = host();
    let cw = host
        .load(&ModuleSource::Builtin("change-window".into()))
        .unwrap();
    let v = host
        .validate_settings(&cw, &json!({"timezone": "Mars/Olympus"}))
        .unwrap();
    assert!(!v.valid);
    assert!(v.message.unwrap().contains("Mars/Olympus"));
    let v = host
        .validate_settings(&cw, &json!({"timezone": "Europe/Berlin", "deny": [{"days": ["Fri"], "from": "15:00", "to": "24:00"}]}))
        .unwrap();
    assert!(v.valid, "{:?}", v.message);
    let ra = host
        .load(&ModuleSource::Builtin("require-approval".into()))
        .unwrap();
    assert!(
        !host
            .validate_settings(&ra, &json!({"role": "pm", "cuont": 2}))
            .unwrap()
            .valid
    );
    let err = host
        .load(&ModuleSource::Builtin("nope".into()))
        .err()
        .unwrap();
    assert!(err.to_string().contains("qa-approved"), "{err}");
}

/// A bit flipped in a cached artifact is native code gone wrong: the integrity record beside it
/// catches it before anything is mapped, and the entry is rebuilt. A missing record, or an
/// artifact and record copied from another module's entry, are not trusted either.
#[test]
fn cached_artifacts_are_checked_against_their_integrity_record() {
    let dir = tempfile::tempdir().unwrap();
    let cache = || Host::new(HostConfig::new(CacheMode::Dir(dir.path().into()))).unwrap();
    let source = ModuleSource::Builtin("semver-guard".into());
    let first = cache().load(&source).unwrap();
    assert_eq!(first.cache_status(), CacheStatus::Miss);
    let path = cache().cache_path(&first.sha256()).unwrap();
    let record = PathBuf::from(format!("{}.integrity", path.display()));
    let record_text = std::fs::read_to_string(&record).unwrap();
    assert_eq!(record_text.trim().len(), 64, "{record_text}");

    // One bit in the middle of the code: wasmtime's header checks cannot see it.
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    std::fs::write(&path, &bytes).unwrap();
    let host = cache();
    let healed = host.load(&source).unwrap();
    assert_eq!(healed.cache_status(), CacheStatus::Healed(Heal::Corrupt));
    assert_eq!(
        host.evaluate(&healed, &request())
            .unwrap()
            .decision
            .decision,
        Verdict::Allow
    );
    assert_ne!(std::fs::read(&path).unwrap(), bytes, "replaced");
    assert_eq!(
        cache().load(&source).unwrap().cache_status(),
        CacheStatus::Hit
    );

    // No record: not trusted (an entry from before records existed is rebuilt once).
    std::fs::remove_file(&record).unwrap();
    assert_eq!(
        cache().load(&source).unwrap().cache_status(),
        CacheStatus::Healed(Heal::Unrecorded)
    );
    assert!(record.is_file());

    // A record others may write is no record; nor is something that is not one.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&record, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(
            cache().load(&source).unwrap().cache_status(),
            CacheStatus::Healed(Heal::NotPrivate)
        );
    }
    std::fs::write(&record, "0".repeat(1 << 20)).unwrap();
    assert_eq!(
        cache().load(&source).unwrap().cache_status(),
        CacheStatus::Healed(Heal::Unrecorded)
    );
    assert_eq!(
        cache().load(&source).unwrap().cache_status(),
        CacheStatus::Hit
    );

    // Another module's artifact and record, copied over this entry: the record is keyed with
    // the module digest, so it does not vouch for them here.
    let other = cache()
        .load(&ModuleSource::Builtin("soak-time".into()))
        .unwrap();
    let other_path = cache().cache_path(&other.sha256()).unwrap();
    std::fs::copy(&other_path, &path).unwrap();
    std::fs::copy(format!("{}.integrity", other_path.display()), &record).unwrap();
    assert_eq!(
        cache().load(&source).unwrap().cache_status(),
        CacheStatus::Healed(Heal::Corrupt)
    );
    assert_eq!(
        cache().load(&source).unwrap().cache_status(),
        CacheStatus::Hit
    );
}

/// A WASI command that sleeps `ns` on the given clock with `poll_oneoff`, then allows only if
/// the call succeeded with the one clock event and both clocks moved forward by the sleep.
fn sleeper(clock: u32, ns: u64) -> String {
    format!(
        r#"(module {META}
          (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 200) "{ALLOW}")
          (data (i32.const 400) "{DENY}")
          (func $out (param $at i32) (param $len i32)
            (i32.store (i32.const 0) (local.get $at))
            (i32.store (i32.const 4) (local.get $len))
            (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
          (func (export "_start") (local $ok i32)
            (local.set $ok (i32.const 1))
            ;; one clock subscription at 1024: userdata 7, relative, {ns} ns
            (i64.store (i32.const 1024) (i64.const 7))
            (i32.store8 (i32.const 1032) (i32.const 0))
            (i32.store (i32.const 1040) (i32.const {clock}))
            (i64.store (i32.const 1048) (i64.const {ns}))
            (i32.store16 (i32.const 1064) (i32.const 0))
            (if (i32.ne (call $poll (i32.const 1024) (i32.const 2048) (i32.const 1) (i32.const 3000)) (i32.const 0))
              (then (local.set $ok (i32.const 0))))
            (if (i32.ne (i32.load (i32.const 3000)) (i32.const 1)) (then (local.set $ok (i32.const 0))))
            (if (i64.ne (i64.load (i32.const 2048)) (i64.const 7)) (then (local.set $ok (i32.const 0))))
            (if (i32.ne (i32.load16_u (i32.const 2056)) (i32.const 0)) (then (local.set $ok (i32.const 0))))
            (if (i32.ne (i32.load8_u (i32.const 2058)) (i32.const 0)) (then (local.set $ok (i32.const 0))))
            ;; the wall clock is context.now + the sleep, the monotonic clock past the sleep
            (drop (call $clock (i32.const 0) (i64.const 1) (i32.const 48)))
            (if (i64.ne (i64.load (i32.const 48)) (i64.add (i64.const {NOW_NS}) (i64.const {ns})))
              (then (local.set $ok (i32.const 0))))
            (drop (call $clock (i32.const 1) (i64.const 1) (i32.const 56)))
            (if (i64.lt_u (i64.load (i32.const 56)) (i64.const {ns})) (then (local.set $ok (i32.const 0))))
            (if (local.get $ok)
              (then (call $out (i32.const 200) (i32.const {allow_len})))
              (else (call $out (i32.const 400) (i32.const {deny_len}))))))"#,
        deny_len = unescaped_len(DENY),
        allow_len = unescaped_len(ALLOW),
    )
}

/// Sleeping does not block the host: the guest's clocks are virtual, so a 60 s sleep returns at
/// once with both clocks 60 s later (on either clock id), well inside the 2 s limit.
#[test]
fn a_sleep_advances_the_virtual_clocks_instead_of_blocking() {
    let host = host();
    for clock in [0, 1] {
        let policy = host.load(&wat(&sleeper(clock, 60_000_000_000))).unwrap();
        let started = Instant::now();
        let ev = host.evaluate(&policy, &request()).unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(
            ev.decision.decision,
            Verdict::Allow,
            "clock {clock}: {:?}",
            ev.decision.reasons
        );
    }
    assert_still_usable(&host);
}

/// A module that sleeps in a loop until the wall clock passes a time far away ends like any
/// endless loop: bounded by fuel or the deadline, never by the host's own clock.
#[test]
fn sleeping_forever_in_small_steps_is_bounded() {
    let host = host_with(Limits {
        timeout: Duration::from_millis(300),
        ..Limits::DEFAULT
    });
    let (err, elapsed) = eval_err(
        &host,
        &format!(
            r#"(module {META}
              (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
              (memory (export "memory") 1)
              (func (export "_start")
                (i32.store (i32.const 1040) (i32.const 1))
                (i64.store (i32.const 1048) (i64.const 1000000))
                (loop (drop (call $poll (i32.const 1024) (i32.const 2048) (i32.const 1) (i32.const 3000))) (br 0))))"#
        ),
    );
    assert!(
        matches!(
            err,
            PolicyError::TimedOut { .. } | PolicyError::OutOfFuel { .. }
        ),
        "{err:?}"
    );
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
    assert_still_usable(&host);
}

/// `poll_oneoff` checks what the guest hands it: no subscriptions, unknown fds and pointers
/// out of memory are WASI errors, not host crashes; stdin and stdout are ready at once.
#[test]
fn poll_oneoff_refuses_bad_arguments() {
    let host = host();
    // errno for: 0 subscriptions; fd 5 for reading; subs past the end of memory;
    // then fd 0 for reading must succeed with one FdRead event.
    let module = format!(
        r#"(module {META}
          (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
          (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (data (i32.const 200) "{ALLOW}")
          (data (i32.const 400) "{DENY}")
          (func $out (param $at i32) (param $len i32)
            (i32.store (i32.const 0) (local.get $at))
            (i32.store (i32.const 4) (local.get $len))
            (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
          (func (export "_start") (local $ok i32)
            (local.set $ok (i32.const 1))
            (if (i32.ne (call $poll (i32.const 1024) (i32.const 2048) (i32.const 0) (i32.const 3000)) (i32.const 28))
              (then (local.set $ok (i32.const 0))))
            (i32.store8 (i32.const 1032) (i32.const 1))
            (i32.store (i32.const 1040) (i32.const 5))
            (if (i32.ne (call $poll (i32.const 1024) (i32.const 2048) (i32.const 1) (i32.const 3000)) (i32.const 8))
              (then (local.set $ok (i32.const 0))))
            (if (i32.ne (call $poll (i32.const 65530) (i32.const 2048) (i32.const 1) (i32.const 3000)) (i32.const 21))
              (then (local.set $ok (i32.const 0))))
            (i32.store (i32.const 1040) (i32.const 0))
            (if (i32.ne (call $poll (i32.const 1024) (i32.const 2048) (i32.const 1) (i32.const 3000)) (i32.const 0))
              (then (local.set $ok (i32.const 0))))
            (if (i32.ne (i32.load (i32.const 3000)) (i32.const 1)) (then (local.set $ok (i32.const 0))))
            (if (i32.ne (i32.load8_u (i32.const 2058)) (i32.const 1)) (then (local.set $ok (i32.const 0))))
            (if (local.get $ok)
              (then (call $out (i32.const 200) (i32.const {allow_len})))
              (else (call $out (i32.const 400) (i32.const {deny_len}))))))"#,
        deny_len = unescaped_len(DENY),
        allow_len = unescaped_len(ALLOW),
    );
    let policy = host.load(&wat(&module)).unwrap();
    assert_eq!(
        host.evaluate(&policy, &request())
            .unwrap()
            .decision
            .decision,
        Verdict::Allow
    );
}

#[test]
fn evaluation_is_deterministic() {
    let host = host();
    let policy = host
        .load(&ModuleSource::Builtin("semver-guard".into()))
        .unwrap();
    let a = host.evaluate(&policy, &request()).unwrap();
    let b = host.evaluate(&policy, &request()).unwrap();
    assert_eq!((a.decision, a.fuel_used), (b.decision, b.fuel_used));
    assert!(a.fuel_used > 0);
}

#[test]
fn compiled_modules_are_cached_and_heal() {
    let dir = tempfile::tempdir().unwrap();
    let source = ModuleSource::Builtin("semver-guard".into());
    let host = Host::new(HostConfig::new(CacheMode::Dir(dir.path().into()))).unwrap();
    let first = host.load(&source).unwrap();
    assert_eq!(first.cache_status(), CacheStatus::Miss);
    let path = host.cache_path(&first.sha256()).unwrap();
    assert!(path.starts_with(dir.path().join("kubectl-promote/compiled")));
    assert_eq!(
        path.file_name().unwrap().to_str().unwrap(),
        format!("{}.cwasm", first.sha256())
    );
    assert!(path.is_file());

    // A new process (host) with the same engine configuration hits.
    let again = Host::new(HostConfig::new(CacheMode::Dir(dir.path().into()))).unwrap();
    let hit = again.load(&source).unwrap();
    assert_eq!(hit.cache_status(), CacheStatus::Hit);
    assert_eq!(
        again.evaluate(&hit, &request()).unwrap().decision.decision,
        Verdict::Allow
    );

    // A corrupt artifact is deleted and rebuilt.
    std::fs::write(&path, b"not a compiled module").unwrap();
    let healed = again.load(&source).unwrap();
    assert_eq!(healed.cache_status(), CacheStatus::Healed(Heal::Corrupt));
    assert_eq!(
        again
            .evaluate(&healed, &request())
            .unwrap()
            .decision
            .decision,
        Verdict::Allow
    );
    assert_eq!(
        again.load(&source).unwrap().cache_status(),
        CacheStatus::Hit
    );
    let mut leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    leftovers.sort();
    assert_eq!(
        leftovers,
        [
            format!("{}.cwasm", first.sha256()),
            format!("{}.cwasm.integrity", first.sha256())
        ],
        "the artifact and its integrity record, no temp files left behind"
    );

    // No-cache mode compiles and writes nothing.
    assert_eq!(
        host_with(Limits::DEFAULT)
            .load(&source)
            .unwrap()
            .cache_status(),
        CacheStatus::Disabled
    );
}

#[test]
fn pins_are_checked_before_compiling() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.wasm");
    // Not even a module: the pin check must come first, so the error is about the digest.
    std::fs::write(&path, b"\0asm garbage").unwrap();
    let wrong: Sha256 = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
        .parse()
        .unwrap();
    let actual = Sha256::of(b"\0asm garbage");
    let err = host()
        .load(&ModuleSource::File {
            path: path.clone(),
            sha256: Some(wrong),
        })
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(matches!(err, LoadError::PinMismatch { .. }), "{err:?}");
    assert!(
        text.contains(&wrong.to_hex()) && text.contains(&actual.to_hex()),
        "{text}"
    );

    // With the right pin the same file gets as far as parsing.
    let err = host()
        .load(&ModuleSource::File {
            path,
            sha256: Some(actual),
        })
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::Malformed { .. }), "{err:?}");
}

#[test]
fn sidecar_metadata_and_resources() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = wat::parse_str(writes(ALLOW).replace(META, "")).unwrap();
    let path = dir.path().join("policy.wasm");
    std::fs::write(&path, &bytes).unwrap();
    let host = host();
    let err = host
        .load(&ModuleSource::File {
            path: path.clone(),
            sha256: None,
        })
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::NoMetadata { .. }), "{err:?}");

    let sidecar = |sha: &str, resources: &str| {
        format!(
            "name: cost-guard\nversion: 1.2.0\nabi: promote.wasi-command/v1\noperations: [promote]\nmodule: policy.wasm\nsha256: {sha}\n{resources}"
        )
    };
    let good = Sha256::of(&bytes).to_hex();
    std::fs::write(
        dir.path().join("promote-policy.yaml"),
        sidecar(&good, "resources: {fuel: 2000000000, memoryMiB: 256}\n"),
    )
    .unwrap();
    let p = host
        .load(&ModuleSource::File {
            path: path.clone(),
            sha256: None,
        })
        .unwrap();
    assert_eq!(p.name(), "cost-guard");
    assert_eq!(
        p.limits(),
        Limits {
            fuel: 2_000_000_000,
            memory_bytes: 256 << 20,
            ..Limits::DEFAULT
        }
    );
    assert_eq!(
        host.evaluate(&p, &request()).unwrap().decision.decision,
        Verdict::Allow
    );

    std::fs::write(
        dir.path().join("promote-policy.yaml"),
        sidecar(&good, "resources: {memoryMiB: 4096}\n"),
    )
    .unwrap();
    let err = host
        .load(&ModuleSource::File {
            path: path.clone(),
            sha256: None,
        })
        .err()
        .unwrap();
    assert!(err.to_string().contains("host maximum"), "{err}");

    std::fs::write(
        dir.path().join("promote-policy.yaml"),
        sidecar(&"ab".repeat(32), ""),
    )
    .unwrap();
    let err = host
        .load(&ModuleSource::File { path, sha256: None })
        .err()
        .unwrap();
    assert!(matches!(err, LoadError::PinMismatch { .. }), "{err:?}");
}

fn outcome(
    name: &str,
    result: Result<Decision, PolicyError>,
    failure_policy: FailurePolicy,
) -> PolicyOutcome {
    PolicyOutcome {
        name: name.into(),
        origin: format!("builtin:{name}"),
        sha256: "00".repeat(32),
        failure_policy,
        result: result.map(|decision| Evaluation {
            decision,
            fuel_used: 10,
            elapsed: Duration::ZERO,
            log: String::new(),
        }),
        elapsed: Duration::ZERO,
    }
}

fn needs(id: &str, count: u32) -> Decision {
    Decision::require_approval(RequiredApproval {
        id: id.into(),
        environment: "prod".into(),
        count,
        reason: id.into(),
        verified: false,
    })
}

#[test]
fn combining_follows_the_contract() {
    use FailurePolicy::*;
    let c = combine(
        vec![
            outcome("a", Ok(Decision::allow().with_warning("heads up")), Fail),
            outcome("b", Ok(needs("pm", 1)), Fail),
            outcome("c", Ok(needs("pm", 2)), Fail),
            outcome("d", Ok(needs("qa", 1)), Fail),
        ],
        BreakGlass::No,
    );
    assert_eq!(c.decision, Verdict::RequireApproval);
    let got: Vec<_> = c
        .required_approvals
        .iter()
        .map(|r| (r.id.as_str(), r.count))
        .collect();
    assert_eq!(got, [("pm", 2), ("qa", 1)]);
    assert_eq!(c.warnings, ["a: heads up"]);
    // One policy asking for verified approvals is enough, whichever count wins.
    let mut verified = needs("pm", 1);
    verified.required_approvals[0].verified = true;
    let c = combine(
        vec![
            outcome("a", Ok(verified), Fail),
            outcome("b", Ok(needs("pm", 2)), Fail),
        ],
        BreakGlass::No,
    );
    let pm = &c.required_approvals[0];
    assert_eq!((pm.count, pm.verified), (2, true));

    let c = combine(
        vec![
            outcome(
                "a",
                Ok(Decision::deny("X", "x").with_reason("Y", "y")),
                Fail,
            ),
            outcome("b", Ok(needs("pm", 1)), Fail),
            outcome("c", Ok(Decision::deny("Z", "z")), Fail),
            outcome("d", Ok(Decision::allow().with_reason("Fine", "fine")), Fail),
        ],
        BreakGlass::No,
    );
    assert_eq!(c.decision, Verdict::Deny);
    let codes: Vec<_> = c
        .reasons
        .iter()
        .map(|r| (r.policy.as_str(), r.code.as_str()))
        .collect();
    assert_eq!(codes, [("a", "X"), ("a", "Y"), ("c", "Z")]);

    let err = PolicyError::TimedOut { ms: 2000 };
    let c = combine(
        vec![
            outcome("slow", Err(err.clone()), Fail),
            outcome("ok", Ok(Decision::allow()), Fail),
        ],
        BreakGlass::No,
    );
    assert_eq!(c.decision, Verdict::Deny);
    assert_eq!(c.reasons[0].code, "PolicyError");
    assert!(c.reasons[0].message.contains("timed out after 2000 ms"));
    assert_eq!(c.policies[0].error, Some(err.clone()));

    let c = combine(vec![outcome("slow", Err(err), Ignore)], BreakGlass::No);
    assert_eq!(c.decision, Verdict::Allow);
    assert!(c.warnings[0].contains("timed out"), "{:?}", c.warnings);
    assert_eq!(combine(Vec::new(), BreakGlass::No).decision, Verdict::Allow);
    let _ = Reason::new("unused", "import check");
}

/// Break-glass sets denials aside, except where the policy refuses (its Decision says
/// `overridable: false`); it never waives a required approval.
#[test]
fn an_override_sets_aside_overridable_denials_only() {
    use FailurePolicy::*;
    let outcomes = || {
        vec![
            outcome("guard", Ok(Decision::deny("Downgrade", "v2 to v1")), Fail),
            outcome("qa", Ok(needs("qa", 1)), Fail),
            outcome("broken", Err(PolicyError::TimedOut { ms: 2000 }), Fail),
        ]
    };
    let plain = combine(outcomes(), BreakGlass::No);
    assert_eq!(plain.decision, Verdict::Deny);
    assert!(plain.overridden.is_empty());
    assert!(plain.policies.iter().all(|p| p.override_outcome.is_none()));

    let c = combine(outcomes(), BreakGlass::Requested);
    assert_eq!(
        c.decision,
        Verdict::RequireApproval,
        "approvals stay required"
    );
    assert!(c.reasons.is_empty(), "{:?}", c.reasons);
    let set_aside: Vec<_> = c.overridden.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(set_aside, ["Downgrade", "PolicyError"]);
    assert_eq!(
        c.policies[0].override_outcome,
        Some(OverrideOutcome::Overridden)
    );
    assert_eq!(c.policies[1].override_outcome, None);

    let mut refusing = outcomes();
    refusing.push(outcome(
        "window",
        Ok(Decision::deny("ChangeWindow", "Friday").not_overridable()),
        Fail,
    ));
    let c = combine(refusing, BreakGlass::Requested);
    assert_eq!(c.decision, Verdict::Deny);
    let standing: Vec<_> = c
        .reasons
        .iter()
        .map(|r| (r.policy.as_str(), r.code.as_str()))
        .collect();
    assert_eq!(
        standing,
        [("window", "ChangeWindow"), ("window", "OverrideRefused")]
    );
    assert!(
        c.reasons[1]
            .message
            .contains("does not let this denial be overridden")
    );
    assert_eq!(
        c.policies[3].override_outcome,
        Some(OverrideOutcome::Refused)
    );
}

/// A module whose `validate-settings` failed is not evaluated: the error is its result, and
/// its failure policy decides what that means, as for any policy error.
#[test]
fn a_settings_error_is_a_policy_error_under_the_failure_policy() {
    let host = host();
    let semver = Arc::new(
        host.load(&ModuleSource::Builtin("semver-guard".into()))
            .unwrap(),
    );
    let broken = |failure_policy| ConfiguredPolicy {
        policy: Arc::clone(&semver),
        settings: json!({}),
        failure_policy,
        settings_error: Some(PolicyError::TimedOut { ms: 2000 }),
    };
    let c = host.evaluate_all(&[broken(FailurePolicy::Fail)], &request());
    assert_eq!(c.decision, Verdict::Deny);
    assert_eq!(c.reasons[0].code, "PolicyError");
    assert!(
        c.reasons[0]
            .message
            .contains("in validate-settings: timed out after 2000 ms"),
        "{}",
        c.reasons[0].message
    );
    assert_eq!(c.policies[0].fuel_used, None, "not evaluated");
    let c = host.evaluate_all(&[broken(FailurePolicy::Ignore)], &request());
    assert_eq!(c.decision, Verdict::Allow);
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(
        c.warnings[0].contains("failurePolicy: Ignore"),
        "{:?}",
        c.warnings
    );
    assert!(
        c.policies[0].warnings.is_empty(),
        "said once, by the operation"
    );
}

#[test]
fn evaluate_all_applies_settings_and_reports_per_policy() {
    let host = host();
    let semver = Arc::new(
        host.load(&ModuleSource::Builtin("semver-guard".into()))
            .unwrap(),
    );
    let rollback = Arc::new(
        host.load(&ModuleSource::Builtin("rollback-guard".into()))
            .unwrap(),
    );
    let mut req = request();
    if let promote_policy::sdk::Operation::Promote(p) = &mut req.operation {
        p.images[0].to.tag = Some("v3.0.0".into());
    }
    let configured = |policy: &Arc<_>, settings| ConfiguredPolicy {
        policy: Arc::clone(policy),
        settings,
        failure_policy: FailurePolicy::Fail,
        settings_error: None,
    };
    let c = host.evaluate_all(&[configured(&semver, json!({}))], &req);
    assert_eq!(c.decision, Verdict::Deny);
    assert_eq!(c.reasons[0].code, "MajorVersionSkipped");
    let r = &c.policies[0];
    assert_eq!(
        (r.origin.as_str(), r.sha256.len()),
        ("builtin:semver-guard", 64)
    );
    assert!(r.fuel_used.unwrap() > 0);

    let c = host.evaluate_all(
        &[configured(&semver, json!({"allowMajorSkip": true}))],
        &req,
    );
    assert_eq!(c.decision, Verdict::Allow, "{:?}", c.reasons);

    // A rollback-only policy configured for promotions is a configuration error, not a pass.
    let c = host.evaluate_all(&[configured(&rollback, json!({}))], &req);
    assert_eq!(c.decision, Verdict::Deny);
    assert!(
        c.reasons[0]
            .message
            .contains("does not decide promote (its metadata lists: rollback)"),
        "{:?}",
        c.reasons
    );
}

/// The pooling allocator recycles slots, never state: memory a call wrote, grew or left in a
/// global is back to the module's initial image for the next call.
#[test]
fn every_call_gets_a_fresh_instance() {
    let host = host();
    #[cfg(target_os = "linux")]
    assert!(
        host.pooled(),
        "the pooling allocator should be available on Linux"
    );
    assert_fresh_instances(&host);
}

/// `policy eval`'s host (`Allocation::OnDemand`: no pool to set up) keeps every guarantee of
/// the pooled one: a fresh instance per call, fuel, the memory limit.
#[test]
fn an_on_demand_host_keeps_fresh_instances_and_every_limit() {
    let config = HostConfig {
        allocation: Allocation::OnDemand,
        defaults: Limits {
            fuel: 1_000_000,
            ..Limits::DEFAULT
        },
        ..HostConfig::new(CacheMode::Disabled)
    };
    let host = Host::new(config).unwrap();
    assert!(!host.pooled(), "asked for on-demand allocation");
    assert_fresh_instances(&host);
    let (err, _) = eval_err(&host, &endless_loop());
    assert_eq!(err, PolicyError::OutOfFuel { limit: 1_000_000 });
    let (err, _) = eval_err(&host, &memory_bomb());
    assert!(
        matches!(err, PolicyError::MemoryLimit { limit_mib: 128, .. }),
        "{err:?}"
    );
    assert_still_usable(&host);
}

/// Five calls of a module that denies when it sees anything a previous call left.
fn assert_fresh_instances(host: &Host) {
    let module = format!(
        r#"(module {META}
          (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (global $calls (mut i32) (i32.const 0))
          (data (i32.const 64) "{ALLOW}")
          (data (i32.const 4096) "{DENY}")
          (func $say (param $at i32) (param $len i32)
            (i32.store (i32.const 0) (local.get $at))
            (i32.store (i32.const 4) (local.get $len))
            (drop (call $w (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
          (func (export "_start")
            ;; Anything a previous call left: a global, a byte, a grown memory.
            (if (i32.or (i32.or (global.get $calls) (i32.load8_u (i32.const 2048)))
                        (i32.ne (memory.size) (i32.const 1)))
              (then (call $say (i32.const 4096) (i32.const {deny})) (return)))
            (global.set $calls (i32.const 1))
            (i32.store8 (i32.const 2048) (i32.const 7))
            (drop (memory.grow (i32.const 3)))
            (call $say (i32.const 64) (i32.const {allow}))))"#,
        allow = unescaped_len(ALLOW),
        deny = unescaped_len(DENY),
    );
    let policy = host.load(&wat(&module)).unwrap();
    for i in 0..5 {
        let ev = host.evaluate(&policy, &request()).unwrap();
        assert_eq!(
            ev.decision.decision,
            Verdict::Allow,
            "call {i}: {:?}",
            ev.decision
        );
    }
}

/// The use-case layer shares one host across `spawn_blocking` calls.
#[test]
fn host_and_policies_are_shareable_across_threads() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<Host>();
    shareable::<promote_policy::Policy>();
    shareable::<ConfiguredPolicy>();
    let host = Arc::new(host());
    let policy = Arc::new(
        host.load(&ModuleSource::Builtin("semver-guard".into()))
            .unwrap(),
    );
    // More threads than the host's pool has slots: the rest wait for one, none fails.
    let threads: Vec<_> = (0..20)
        .map(|_| {
            let (host, policy) = (Arc::clone(&host), Arc::clone(&policy));
            std::thread::spawn(move || {
                host.evaluate(&policy, &request())
                    .unwrap()
                    .decision
                    .decision
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), Verdict::Allow);
    }
}

// ---------------------------------------------------------------------------------------------
// Go: examples/policies/go/qa-approved built with the real toolchain (GOOS=wasip1 GOARCH=wasm)

/// A host whose compiled-module cache outlives the test: Go modules compile once per engine.
fn go_host_with(limits: Limits) -> Host {
    let mut config = HostConfig::new(CacheMode::Dir(promote_testkit::go::compiled_cache()));
    config.defaults = limits;
    Host::new(config).unwrap()
}

fn go_host() -> Host {
    go_host_with(Limits::DEFAULT)
}

fn go_qa_approved() -> ModuleSource {
    ModuleSource::File {
        path: promote_testkit::go::go_qa_approved(),
        sha256: None,
    }
}

/// A qa-approved case's request, with its settings.
fn case_request(name: &str) -> EvaluationRequest {
    let dir = repo_root().join("policies/cases/qa-approved");
    let cases = load_cases(&dir).unwrap();
    let (_, case) = cases
        .iter()
        .find(|(p, _)| p.file_stem().is_some_and(|s| s == name))
        .unwrap_or_else(|| panic!("no case {name} in {}", dir.display()));
    let mut req = case.request.clone().unwrap();
    req.settings = case.settings.clone();
    req
}

#[test]
fn go_policy_decides_like_the_builtin() {
    let host = go_host();
    let go = host.load(&go_qa_approved()).unwrap();
    assert_eq!(go.name(), "qa-approved-go", "metadata from the sidecar");
    assert_eq!(
        go.limits(),
        Limits::DEFAULT,
        "a Go policy needs no extra resources"
    );
    let rust = host
        .load(&ModuleSource::Builtin("qa-approved".into()))
        .unwrap();
    for (case, verdict, code) in [
        ("allow-approved", Verdict::Allow, "QaApproved"),
        ("deny-rejected-later", Verdict::Deny, "QaRejected"),
        ("wait-no-approval", Verdict::RequireApproval, ""),
    ] {
        let req = case_request(case);
        let ev = host.evaluate(&go, &req).unwrap();
        assert_eq!(ev.decision.decision, verdict, "{case}: {:?}", ev.decision);
        assert_eq!(
            ev.decision.reasons.first().map_or("", |r| r.code.as_str()),
            code,
            "{case}"
        );
        // Same codes, messages, approvals and warnings as the Rust built-in.
        assert_eq!(
            ev.decision,
            host.evaluate(&rust, &req).unwrap().decision,
            "{case}"
        );
        // The default fuel leaves a wide margin for Go's runtime start plus the evaluation.
        assert!(
            ev.fuel_used < Limits::DEFAULT.fuel / 20,
            "{case}: {} fuel",
            ev.fuel_used
        );
    }
    let waiting = host
        .evaluate(&go, &case_request("wait-no-approval"))
        .unwrap()
        .decision;
    assert_eq!(
        waiting.required_approvals,
        vec![RequiredApproval {
            id: "qa@staging".into(),
            environment: "staging".into(),
            count: 1,
            reason: "v1.0.1 has no qa approval on staging yet (kubectl promote approve staging v1.0.1 --role qa)".into(),
            verified: false,
        }]
    );
}

#[test]
fn go_policy_passes_the_builtins_cases() {
    let host = go_host();
    let go = host.load(&go_qa_approved()).unwrap();
    let cases = load_cases(&repo_root().join("policies/cases/qa-approved")).unwrap();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(p, c)| {
            run_case(&host, &go, c)
                .err()
                .map(|e| format!("{}: {e}", p.display()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn go_policy_errors_exit_through_proc_exit() {
    let host = go_host();
    let go = host.load(&go_qa_approved()).unwrap();
    let mut req = case_request("allow-approved");
    req.settings = json!({"rol": "qa"});
    // Bad settings in evaluate: the SDK logs to stderr and calls os.Exit(1) (WASI proc_exit).
    let err = host.evaluate(&go, &req).unwrap_err();
    let PolicyError::Exit { code, stderr_tail } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(*code, 1);
    assert!(
        stderr_tail.contains("invalid settings: unknown field `rol`"),
        "{stderr_tail}"
    );
    let v = host.validate_settings(&go, &json!({"rol": "qa"})).unwrap();
    assert!(!v.valid && v.message.unwrap().contains("`rol`"));
    assert!(host.validate_settings(&go, &json!({})).unwrap().valid);
}

#[test]
fn go_policy_runs_are_deterministic() {
    let host = go_host();
    let go = host.load(&go_qa_approved()).unwrap();
    let req = case_request("deny-upstream-moved");
    let a = host.evaluate(&go, &req).unwrap();
    let b = host.evaluate(&go, &req).unwrap();
    // Seeded random and fixed clocks: even the fuel Go's runtime burns is the same.
    assert_eq!(
        (a.decision, a.fuel_used, a.log),
        (b.decision, b.fuel_used, b.log)
    );
}

#[test]
fn go_policy_out_of_fuel_and_memory_are_policy_errors() {
    let go = go_qa_approved();
    let req = case_request("allow-approved");
    let starved = go_host_with(Limits {
        fuel: 100_000,
        ..Limits::DEFAULT
    });
    let p = starved.load(&go).unwrap();
    assert_eq!(
        starved.evaluate(&p, &req).unwrap_err(),
        PolicyError::OutOfFuel { limit: 100_000 }
    );
    let cramped = go_host_with(Limits {
        memory_bytes: 1 << 20,
        ..Limits::DEFAULT
    });
    let p = cramped.load(&go).unwrap();
    let err = cramped.evaluate(&p, &req).unwrap_err();
    assert!(
        matches!(err, PolicyError::MemoryLimit { limit_mib: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn sidecar_text_from_elsewhere_supplies_metadata() {
    // A repo-path module read from a git revision: bytes, with its sidecar read by the caller.
    let wasm = promote_testkit::go::go_qa_approved();
    let bytes = std::fs::read(&wasm).unwrap();
    let sidecar = promote_policy::SidecarText {
        place: "policies/promote-policy.yaml@origin/main".into(),
        text: std::fs::read_to_string(wasm.with_file_name("promote-policy.yaml")).unwrap(),
    };
    let source = ModuleSource::Bytes {
        label: "policies/qa.wasm@origin/main".into(),
        sha256: Some(Sha256::of(&bytes)),
        bytes,
    };
    let host = go_host();
    let err = host.load(&source).err().unwrap();
    assert!(matches!(err, LoadError::NoMetadata { .. }), "{err:?}");
    let p = host.load_with_sidecar(&source, Some(&sidecar)).unwrap();
    assert_eq!(p.metadata().name, "qa-approved-go");
    let bad = promote_policy::SidecarText {
        text: "name: x\n".into(),
        ..sidecar
    };
    let err = host.load_with_sidecar(&source, Some(&bad)).err().unwrap();
    assert!(
        err.to_string()
            .contains("policies/promote-policy.yaml@origin/main"),
        "{err}"
    );
}

/// A guest's WASI calls run on a current-thread runtime of ours: evaluating a module that
/// writes its answer (a WASI call) leaves no Tokio worker thread behind, where wasmtime-wasi's
/// fallback would start a multi-threaded runtime with a worker per core.
#[cfg(target_os = "linux")]
#[test]
fn wasi_calls_start_no_tokio_worker_threads() {
    let host = host();
    let policy = host.load(&wat(&writes(ALLOW))).unwrap();
    for _ in 0..3 {
        let ev = host.evaluate(&policy, &request()).unwrap();
        assert_eq!(ev.decision.decision, Verdict::Allow);
    }
    let workers: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.starts_with("tokio-runtime"))
        .collect();
    assert!(workers.is_empty(), "{workers:?}");
}
