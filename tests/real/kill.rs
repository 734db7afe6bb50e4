//! A kill in the middle of an argocd rollback, against the real controller: the binary (built
//! with `--features test-hooks`) stops at a named pause point and is SIGKILLed there. Killed
//! before its write, nothing changed; killed after it, auto-sync is off, the marker is set, and
//! the real controller carries the rollback operation out although nobody waits for it.

use std::time::Duration;

use promote_testkit::hooks;
use serde_json::json;

use crate::support::argo::{
    Bed, ROLLED_BACK_BY, Transport, annotation, deployed, history, summary,
};

fn kill_at(bed: &Bed, point: &str) {
    let marker = bed.kit.root().join(format!("paused-{point}"));
    let rollback = bed.command(
        &["rollback", "staging", "--strategy", "argocd", "--yes"],
        &[],
    );
    hooks::kill_at(rollback, &marker, point, Duration::from_secs(90));
}

fn status_text(bed: &Bed) -> String {
    bed.run(&["status", "staging"]).expect(0).stdout
}

#[test]
#[ignore = "needs the real servers: bash scripts/test-real.sh"]
fn a_rollback_killed_before_or_after_its_write_leaves_a_state_status_explains() {
    let bed = Bed::new("kill", Transport::Kube);
    let first = deployed(&bed.app("staging")).unwrap();
    bed.run(&["staging", "v1.0.1", "--wait=2m"]).expect(0);

    // Killed before the write: the Application is as it was.
    let before = bed.app("staging");
    kill_at(&bed, "before-rollback-write");
    std::thread::sleep(Duration::from_secs(1));
    let after = bed.app("staging");
    assert_eq!(after["spec"], before["spec"], "spec untouched");
    assert!(annotation(&after, ROLLED_BACK_BY).is_none(), "{after}");
    assert!(
        after["operation"].is_null(),
        "no operation: {}",
        summary(&after)
    );
    assert_eq!(history(&after).len(), history(&before).len());
    let s = status_text(&bed);
    assert!(
        s.contains("auto-sync on") && !s.contains("rolled back"),
        "{s}"
    );

    // Killed after the write: auto-sync off (prune/selfHeal kept), the marker, the operation,
    // which the real controller runs to the end.
    kill_at(&bed, "after-rollback-write");
    let a = bed.app("staging");
    assert_eq!(
        a["spec"]["syncPolicy"]["automated"],
        json!({"prune": true, "selfHeal": true, "enabled": false}),
        "{}",
        summary(&a)
    );
    assert!(annotation(&a, ROLLED_BACK_BY).is_some(), "{a}");
    let a = bed.wait_app(
        "staging",
        Duration::from_secs(120),
        "rolled back to v1.0.0 and Healthy",
        |a| {
            deployed(a).as_deref() == Some(first.as_str())
                && a["status"]["health"]["status"] == "Healthy"
        },
    );
    assert_eq!(history(&a).len(), 3, "the rollback appended its entry");
    let s = status_text(&bed);
    assert!(s.contains("auto-sync disabled"), "{s}");
    assert!(s.contains("rolled back"), "{s}");
    assert!(s.contains("kubectl promote resume staging"), "{s}");
}
