//! The two case files a new project starts with: the same situation in two environments,
//! `staging` (allowed) and `prod` (frozen by the settings, denied), as the first operation the
//! policy decides. The requests are complete `EvaluationRequest`s, the shape the host sends.

use serde_json::{Value, json};

use promote_policy_sdk::{API_VERSION, OperationKind};

/// A pinned clock for the cases, as `KUBECTL_PROMOTE_NOW` would set it (UTC, RFC 3339).
const NOW: &str = "2026-11-24T09:00:00Z";
const REV_OLD: &str = "1111111111111111111111111111111111111111";
const REV_NEW: &str = "2222222222222222222222222222222222222222";

/// `(file name, case document)` for both cases.
pub fn cases(op: OperationKind) -> [(String, Value); 2] {
    let settings = json!({"frozen": ["prod"]});
    let allow = json!({
        "description": format!("a {op} on staging goes ahead (only prod is frozen)"),
        "settings": settings,
        "request": request(op, "staging"),
        "expect": {"decision": "allow"},
    });
    let deny = json!({
        "description": format!("a {op} on prod is denied: prod is frozen"),
        "settings": settings,
        "request": request(op, "prod"),
        "expect": {"decision": "deny", "reasons": ["EnvironmentFrozen"]},
    });
    [
        (format!("allow-{op}-staging.json"), allow),
        (format!("deny-{op}-prod-frozen.json"), deny),
    ]
}

fn request(op: OperationKind, env: &str) -> Value {
    let ana =
        json!({"name": "Ana", "email": "ana@example.com", "kubeUser": null, "verified": false});
    let upstream = if env == "prod" {
        json!("staging")
    } else {
        Value::Null
    };
    let (promotion, rollback) = match op {
        OperationKind::Rollback => (
            Value::Null,
            json!({
                "environment": env,
                "strategy": "argocd",
                "from": {"version": "v1.0.1", "revision": REV_NEW, "deployedAt": "2026-11-23T15:00:00Z"},
                "to": {"version": "v1.0.0", "revision": REV_OLD, "historyId": 3,
                       "deployedAt": "2026-11-20T10:00:00Z", "wasHealthy": true},
                "requestedBy": ana,
                "override": null,
            }),
        ),
        OperationKind::Promote | OperationKind::Verify => (
            json!({
                "environment": env,
                "from": upstream,
                "version": "v1.0.1",
                "previousVersion": "v1.0.0",
                "images": [{"name": "registry.example.com/shop/cartservice", "newName": null,
                            "from": {"tag": "v1.0.0", "digest": null},
                            "to": {"tag": "v1.0.1", "digest": null}, "source": null}],
                "mode": "pr",
                "override": null,
                "requestedBy": ana,
                "renderDiff": [],
            }),
            Value::Null,
        ),
    };
    json!({
        "apiVersion": API_VERSION,
        "kind": "EvaluationRequest",
        "operation": op,
        "settings": {},
        "promotion": promotion,
        "rollback": rollback,
        "environments": {
            "staging": environment("v1.0.1", false),
            "prod": environment("v1.0.0", true),
        },
        "approvals": [],
        "context": {"now": NOW, "dryRun": false, "promoteVersion": env!("CARGO_PKG_VERSION")},
    })
}

fn environment(version: &str, protected: bool) -> Value {
    json!({
        "version": version,
        "protected": protected,
        "images": {"registry.example.com/shop/cartservice": {"tag": version, "digest": null}},
        "git": {"revision": REV_OLD, "committedAt": "2026-11-20T09:55:00Z"},
        "argocd": null,
    })
}

#[cfg(test)]
mod tests {
    use promote_policy_sdk::{EvaluationRequest, OperationKind};

    use super::cases;

    #[test]
    fn the_case_requests_are_what_the_host_sends() {
        for op in [OperationKind::Promote, OperationKind::Rollback] {
            for (name, case) in cases(op) {
                let request: EvaluationRequest = serde_json::from_value(case["request"].clone())
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(request.kind(), op, "{name}");
                assert!(name.contains(&op.to_string()), "{name}");
            }
        }
    }
}
