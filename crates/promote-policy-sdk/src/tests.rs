//! Unit tests of the wire shapes, the invariants and the guest protocol.

use serde_json::{Value, json};

use super::*;

/// The request from `specs/policy-abi.md`, verbatim apart from the elided timestamps.
fn spec_request() -> Value {
    json!({
      "apiVersion": "policy.promote.kubectl.io/v1alpha1", "kind": "EvaluationRequest",
      "operation": "promote",
      "settings": {},
      "promotion": {
        "environment": "prod", "from": "staging", "version": "v1.0.1", "previousVersion": "v1.0.0",
        "images": [{"name": "cartservice", "newName": "registry.example.com/shop/cartservice",
                    "from": {"tag": "v1.0.0", "digest": null}, "to": {"tag": "v1.0.1", "digest": null}}],
        "mode": "pr", "override": null,
        "requestedBy": {"name": "Ana", "email": "ana@example.com", "kubeUser": "ana", "verified": false}
      },
      "rollback": null,
      "environments": {
        "staging": {"version": "v1.0.1", "images": {"cartservice": {"tag": "v1.0.1", "digest": null}},
                    "git": {"revision": "abc", "committedAt": "2026-11-25T10:00:00Z"},
                    "argocd": {"sync": "Synced", "health": "Healthy", "deployedRevision": "abc",
                               "autoSync": true, "rollbackMarker": null,
                               "history": [{"id": 4, "revision": "abc", "version": "v1.0.1", "deployedAt": "2026-11-25T10:05:00Z",
                                            "initiatedBy": {"automated": true}, "wasHealthy": true}]}},
        "prod": {"version": "v1.0.0", "images": {}, "git": {"revision": "def"}, "argocd": null}
      },
      "approvals": [{"environment": "staging", "version": "v1.0.1", "role": "qa", "verdict": "approved",
                     "images": {"cartservice": {"tag": "v1.0.1", "digest": null}},
                     "by": {"name": "Quinn", "email": "qa@example.com", "verified": true}, "at": "2026-11-25T12:00:00Z", "note": "passed"}],
      "context": {"now": "2026-11-26T11:00:00Z", "dryRun": false, "promoteVersion": "0.1.0"}
    })
}

#[test]
fn spec_request_parses_into_typed_fields() {
    let req: EvaluationRequest = serde_json::from_value(spec_request()).unwrap();
    let p = req.promotion().expect("a promotion");
    assert_eq!(req.kind(), OperationKind::Promote);
    assert_eq!(p.from.as_deref(), Some("staging"));
    assert_eq!(p.mode, PromotionMode::Pr);
    assert_eq!(p.images[0].to.tag.as_deref(), Some("v1.0.1"));
    assert_eq!(p.images[0].to.digest, None);
    let staging = &req.environments["staging"];
    let argo = staging.argocd.as_ref().unwrap();
    assert_eq!(argo.history[0].was_healthy, Some(true));
    assert_eq!(
        argo.history[0].initiated_by.as_ref().map(|i| i.automated),
        Some(true)
    );
    assert_eq!(
        req.environments["prod"].git.as_ref().unwrap().committed_at,
        None
    );
    assert_eq!(req.approvals[0].verdict, ApprovalVerdict::Approved);
    assert!(req.rollback().is_none());
    assert_eq!(req.target_environment(), "prod");
    // `protected` is false when a host (or a hand-written request) leaves it out.
    assert!(!req.environments["prod"].protected);
    let mut v = spec_request();
    v["environments"]["prod"]["protected"] = json!(true);
    let req: EvaluationRequest = serde_json::from_value(v).unwrap();
    assert!(req.environments["prod"].protected);
}

#[test]
fn request_round_trips_with_nulls_kept() {
    let req: EvaluationRequest = serde_json::from_value(spec_request()).unwrap();
    let back = serde_json::to_value(&req).unwrap();
    // Unknown fields are null, not omitted.
    assert_eq!(back["rollback"], Value::Null);
    assert!(
        back["promotion"]
            .as_object()
            .unwrap()
            .contains_key("override")
    );
    assert_eq!(
        back["promotion"]["images"][0]["from"]["digest"],
        Value::Null
    );
    assert_eq!(
        back["environments"]["prod"]["git"]["committedAt"],
        Value::Null
    );
    assert_eq!(back["environments"]["prod"]["argocd"], Value::Null);
    assert_eq!(back["apiVersion"], API_VERSION);
    assert_eq!(back["operation"], "promote");
    let again: EvaluationRequest = serde_json::from_value(back).unwrap();
    assert_eq!(again, req);
}

#[test]
fn rollback_request_parses() {
    let mut v = spec_request();
    v["operation"] = json!("rollback");
    v["promotion"] = Value::Null;
    v["rollback"] = json!({
        "environment": "prod", "strategy": "argocd",
        "from": {"version": "v1.0.1", "revision": "abc", "deployedAt": null},
        "to": {"version": "v1.0.0", "revision": "def", "historyId": 3, "deployedAt": null, "wasHealthy": null},
        "requestedBy": {"name": null, "email": null, "kubeUser": null, "verified": false},
        "override": {"by": {"name": "Ana", "email": null, "kubeUser": null, "verified": true}, "reason": "INC-1"}
    });
    let req: EvaluationRequest = serde_json::from_value(v).unwrap();
    let r = req.rollback().unwrap();
    assert_eq!(r.strategy, RollbackStrategy::Argocd);
    assert_eq!(r.to.was_healthy, None);
    assert_eq!(r.to.history_id, Some(3));
    assert_eq!(r.override_.as_ref().unwrap().reason, "INC-1");
}

#[test]
fn request_contract_violations_are_named() {
    let mut v = spec_request();
    v["promotion"] = Value::Null;
    let e = serde_json::from_value::<EvaluationRequest>(v)
        .unwrap_err()
        .to_string();
    assert!(e.contains("`promotion` is null"), "{e}");

    let mut v = spec_request();
    v["rollback"] = v["promotion"].clone();
    assert!(serde_json::from_value::<EvaluationRequest>(v).is_err());

    let mut v = spec_request();
    v["apiVersion"] = json!("policy.promote.kubectl.io/v2");
    let e = serde_json::from_value::<EvaluationRequest>(v)
        .unwrap_err()
        .to_string();
    assert!(e.contains("apiVersion"), "{e}");

    let mut v = spec_request();
    v["promotion"]["mode"] = json!("yolo");
    assert!(serde_json::from_value::<EvaluationRequest>(v).is_err());
}

#[test]
fn decision_serializes_as_the_spec_shows() {
    let d = Decision::require_approval(RequiredApproval {
        id: "pm".into(),
        environment: "prod".into(),
        count: 1,
        reason: "prod needs a PM sign-off".into(),
        verified: false,
    });
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(
        v,
        json!({"apiVersion": API_VERSION, "kind": "Decision", "decision": "require-approval",
               "reasons": [], "requiredApprovals": [{"id": "pm", "environment": "prod", "count": 1,
               "reason": "prod needs a PM sign-off"}], "warnings": []})
    );
    assert_eq!(serde_json::from_value::<Decision>(v).unwrap(), d);
    // `verified` is written only when set, and read back.
    let mut d = d;
    d.required_approvals[0].verified = true;
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["requiredApprovals"][0]["verified"], true);
    assert_eq!(serde_json::from_value::<Decision>(v).unwrap(), d);
}

#[test]
fn overridable_is_optional_and_written_only_when_false() {
    // Absent (every decision written before the field existed) means overridable.
    let old = json!({"apiVersion": API_VERSION, "kind": "Decision", "decision": "deny",
        "reasons": [{"code": "No", "message": "because"}]});
    let d = serde_json::from_value::<Decision>(old.clone()).unwrap();
    assert!(d.overridable);
    assert_eq!(
        serde_json::to_value(&d).unwrap()["overridable"],
        Value::Null
    );
    let refused = Decision::deny("ChangeFreeze", "frozen").not_overridable();
    let v = serde_json::to_value(&refused).unwrap();
    assert_eq!(v["overridable"], json!(false));
    assert_eq!(serde_json::from_value::<Decision>(v).unwrap(), refused);
    let mut explicit = old;
    explicit["overridable"] = json!(false);
    assert!(
        !serde_json::from_value::<Decision>(explicit)
            .unwrap()
            .overridable
    );
}

#[test]
fn decision_invariants_are_enforced_when_read() {
    let deny_empty = json!({"apiVersion": API_VERSION, "kind": "Decision", "decision": "deny"});
    let e = serde_json::from_value::<Decision>(deny_empty)
        .unwrap_err()
        .to_string();
    assert!(e.contains("reasons"), "{e}");
    let ra_empty =
        json!({"apiVersion": API_VERSION, "kind": "Decision", "decision": "require-approval"});
    assert!(serde_json::from_value::<Decision>(ra_empty).is_err());
    let zero = json!({"apiVersion": API_VERSION, "kind": "Decision", "decision": "require-approval",
        "requiredApprovals": [{"id": "pm", "environment": "prod", "count": 0, "reason": "x"}]});
    assert!(serde_json::from_value::<Decision>(zero).is_err());
    let bad_verdict = json!({"apiVersion": API_VERSION, "kind": "Decision", "decision": "maybe"});
    assert!(serde_json::from_value::<Decision>(bad_verdict).is_err());
    let allow = json!({"apiVersion": API_VERSION, "kind": "Decision", "decision": "allow"});
    assert_eq!(
        serde_json::from_value::<Decision>(allow).unwrap(),
        Decision::allow()
    );
}

fn record(who: &str, verdict: ApprovalVerdict, version: &str) -> ApprovalRecord {
    ApprovalRecord {
        environment: "staging".into(),
        version: version.into(),
        role: "qa".into(),
        verdict,
        images: Default::default(),
        by: Approver {
            name: Some(who.into()),
            email: Some(format!("{who}@EXAMPLE.com")),
            verified: true,
        },
        at: "2026-11-25T12:00:00Z".into(),
        note: None,
    }
}

#[test]
fn latest_record_wins_per_env_version_role() {
    use ApprovalVerdict::*;
    let records = vec![
        record("quinn", Approved, "v1.0.1"),
        record("quinn", Rejected, "v1.0.1"),
        record("quinn", Approved, "v1.0.2"),
    ];
    assert_eq!(
        latest_approval(&records, "staging", "v1.0.1", "qa")
            .unwrap()
            .verdict,
        Rejected
    );
    assert_eq!(
        latest_approval(&records, "staging", "v1.0.2", "qa")
            .unwrap()
            .verdict,
        Approved
    );
    assert!(latest_approval(&records, "staging", "v1.0.1", "pm").is_none());
    assert!(latest_approval(&records, "prod", "v1.0.1", "qa").is_none());
}

#[test]
fn latest_per_approver_keys_by_email_case_insensitively() {
    use ApprovalVerdict::*;
    let mut second = record("pat", Approved, "v1");
    second.by.email = Some("PAT@example.com".into());
    let records = vec![
        record("pat", Revoked, "v1"),
        record("sam", Approved, "v1"),
        second,
        record("sam", Revoked, "v1"),
    ];
    let latest = latest_per_approver(&records, "staging", "v1", "qa");
    let verdicts: Vec<_> = latest
        .iter()
        .map(|r| (approver_key(r), r.verdict))
        .collect();
    assert_eq!(
        verdicts,
        vec![
            ("pat@example.com".to_owned(), Approved),
            ("sam@example.com".to_owned(), Revoked)
        ]
    );
}

fn protocol(
    op: &str,
    input: &str,
    verdict: Result<Decision, PolicyFailure>,
) -> (u8, String, String) {
    let args = vec!["policy".to_owned(), op.to_owned()];
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run_with(
        &args,
        &mut input.as_bytes(),
        &mut out,
        &mut err,
        |_| verdict,
        |s| {
            if s.get("bad").is_some() {
                SettingsValidation::invalid("bad is not a setting")
            } else {
                SettingsValidation::valid()
            }
        },
    );
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[test]
fn run_writes_one_decision_document() {
    let req = spec_request().to_string();
    let (code, out, err) = protocol("evaluate", &req, Ok(Decision::deny("No", "because")));
    assert_eq!((code, err.as_str()), (0, ""));
    let d: Decision = serde_json::from_str(&out).unwrap();
    assert_eq!(d.reasons[0].code, "No");
    assert_eq!(out.lines().count(), 1);
}

#[test]
fn run_reports_failures_with_exit_codes() {
    let req = spec_request().to_string();
    let (code, out, err) = protocol(
        "evaluate",
        &req,
        Err("settings.days: expected a list".into()),
    );
    assert_eq!((code, out.as_str()), (EXIT_FAILED, ""));
    assert!(err.contains("settings.days"));

    let (code, _, err) = protocol("evaluate", "{not json", Ok(Decision::allow()));
    assert_eq!(code, EXIT_BAD_INPUT);
    assert!(err.contains("not a valid EvaluationRequest"), "{err}");

    let (code, _, err) = protocol("frobnicate", &req, Ok(Decision::allow()));
    assert_eq!(code, EXIT_USAGE);
    assert!(err.contains("\"frobnicate\""), "{err}");

    // An invalid decision never reaches stdout.
    let mut empty_deny = Decision::allow();
    empty_deny.decision = Verdict::Deny;
    let (code, out, _) = protocol("evaluate", &req, Ok(empty_deny));
    assert_eq!((code, out.as_str()), (EXIT_FAILED, ""));
}

#[test]
fn run_validates_settings() {
    let (code, out, _) = protocol("validate-settings", r#"{"bad": 1}"#, Ok(Decision::allow()));
    assert_eq!(code, 0);
    let v: SettingsValidation = serde_json::from_str(&out).unwrap();
    assert_eq!(v, SettingsValidation::invalid("bad is not a setting"));
    let (_, out, _) = protocol("validate-settings", "{}", Ok(Decision::allow()));
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"valid": true, "message": null})
    );
}

#[test]
fn metadata_parses_and_rejects_unknown_keys() {
    let m: PolicyMetadata = serde_json::from_value(json!({
        "name": "x", "version": "0.1.0", "abi": ABI_WASI_COMMAND_V1,
        "operations": ["promote", "rollback"], "resources": {"fuel": 5, "memoryMiB": 256}
    }))
    .unwrap();
    assert_eq!(m.resources.unwrap().memory_mib, Some(256));
    assert_eq!(
        m.operations,
        vec![OperationKind::Promote, OperationKind::Rollback]
    );
    let e = serde_json::from_value::<PolicyMetadata>(json!({
        "name": "x", "version": "0", "abi": "a", "operations": [], "cpu": 1
    }));
    assert!(e.is_err());
}
