//! The stand-in's sync-window check and promote-core's agree, minute after minute, around the
//! daylight-saving changes of several zones. They are written apart on purpose (the stand-in
//! walks back minute by minute, core looks for the schedule's next start), so agreement here is
//! evidence both read Argo CD's rules the same way, and a disagreement names the window and the
//! instant to look at.

use promote_core::argocd::{
    Application, Timestamp, WindowVerdict, parse_sync_windows, sync_window_verdict,
};
use promote_testkit::argocd::windows::{Window, check};
use serde_json::{Value, json};

fn app() -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "shop-prod", "namespace": "argocd"},
        "spec": {"project": "default",
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": "prod"},
                 "source": {"repoURL": "r", "path": "p", "targetRevision": "main"}}
    })
}

/// Both verdicts on `windows` at `now`, as "open" / "blocked" / "invalid".
fn verdicts(windows: &Value, now: jiff::Timestamp, manual: bool) -> (&'static str, &'static str) {
    let project = json!({"spec": {"syncWindows": windows}});
    let parsed = Application::from_json(app()).unwrap();
    let core = match sync_window_verdict(
        &parse_sync_windows(&project),
        &parsed,
        Timestamp::from(now),
        manual,
    ) {
        WindowVerdict::Allowed => "open",
        WindowVerdict::DeniedBy(_) | WindowVerdict::OutsideAllow(_) => "blocked",
        WindowVerdict::Unknown(_) => "invalid",
    };
    let stand_in = match check(&project, &app(), now, manual) {
        Window::Open => "open",
        Window::Blocked => "blocked",
        Window::Invalid(_) => "invalid",
    };
    (core, stand_in)
}

fn deny(schedule: &str, duration: &str, zone: &str) -> Value {
    json!({"kind": "deny", "schedule": schedule, "duration": duration, "timeZone": zone, "applications": ["shop-*"]})
}

#[test]
fn core_and_the_stand_in_agree_around_daylight_saving_changes() {
    let windows = [
        deny("0 22 * * *", "8h", "Europe/Berlin"),
        deny("*/15 9-17 * * MON-FRI", "10m", "America/New_York"),
        deny("CRON_TZ=Europe/Berlin 30 2 * * *", "1h", ""),
        deny("0 0 1,15 * *", "36h", "UTC"),
        deny("0 12 * * sun", "90m", "Australia/Lord_Howe"),
        deny("5/20 * * * *", "7m", "Asia/Kolkata"),
        deny("0 1 * * *", "2h30m", "America/Santiago"),
        deny("0 0 30 2 *", "1h", ""),
        deny("0 22 * * *", "8h", "Mars/Base"),
    ];
    // Two days around each change: Europe (2026-03-29, 2026-10-25), the US (2026-03-08,
    // 2026-11-01), Lord Howe's half hour (2026-04-05, 2026-10-04), Chile (2026-04-05).
    let around = [
        "2026-03-28T00:00:00Z",
        "2026-10-24T00:00:00Z",
        "2026-03-07T00:00:00Z",
        "2026-10-31T00:00:00Z",
        "2026-04-04T00:00:00Z",
        "2026-10-03T00:00:00Z",
    ];
    let mut checked = 0;
    for w in &windows {
        for start in around {
            let start: jiff::Timestamp = start.parse().unwrap();
            // Every 17 minutes for two days: every minute of the hour comes up.
            for step in 0..(2 * 24 * 60 / 17) {
                let now = start + jiff::SignedDuration::from_mins(17 * step);
                let (core, stand_in) = verdicts(&json!([w]), now, true);
                assert_eq!(core, stand_in, "{w} at {now}");
                checked += 1;
            }
        }
    }
    assert!(checked > 1000);
}

#[test]
fn core_and_the_stand_in_agree_on_combinations_and_on_what_is_invalid() {
    let now: jiff::Timestamp = "2026-11-26T23:00:00Z".parse().unwrap();
    let closed_allow =
        json!({"kind": "allow", "schedule": "0 9 * * *", "duration": "1h", "namespaces": ["pro?"]});
    let mut closed_manual = closed_allow.clone();
    closed_manual["manualSync"] = json!(true);
    let open_allow = json!({"kind": "allow", "schedule": "30 22 * * *", "duration": "1h", "clusters": ["https://kubernetes.*"]});
    let open_deny = deny("0 22 * * *", "8h", "");
    let mut open_deny_manual = open_deny.clone();
    open_deny_manual["manualSync"] = json!(true);
    let cases = [
        json!([]),
        json!([open_deny]),
        json!([open_deny_manual]),
        json!([open_deny_manual, open_deny]),
        json!([open_allow, open_deny]),
        json!([open_allow, closed_allow]),
        json!([closed_allow]),
        json!([closed_manual]),
        json!([closed_manual, closed_allow]),
        json!([{"kind": "deny", "schedule": "* * * * *", "duration": "1h", "applications": ["other"], "namespaces": ["prod"], "andOperator": true}]),
        json!([deny("@daily", "1h", "")]),
        json!([deny("0 0 * * *", "1d", "")]),
        json!([deny("0 0 * * 7", "1h", "")]),
        json!([deny("CRON_TZ=Mars/Base 0 0 * * *", "1h", "")]),
    ];
    for windows in &cases {
        for manual in [true, false] {
            let (core, stand_in) = verdicts(windows, now, manual);
            assert_eq!(core, stand_in, "{windows} (manual: {manual})");
        }
    }
}
