//! Rego beside Rust: the example `qa-approved` Rego bundle (examples/policies/rego/qa-approved,
//! built with the real `opa`) and `builtin:qa-approved`, through the same host: cold compile,
//! cached load, and one evaluation from a loaded module (a fresh store and instance per call for
//! both). Not part of CI; run with `cargo bench -p promote-policy --bench rego`; criterion's
//! `median` (target/criterion/*/new/estimates.json) is the p50.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use promote_policy::sdk::{EvaluationRequest, Verdict};
use promote_policy::{CacheMode, Host, HostConfig, ModuleSource};
use promote_testkit::repo::workspace_root;

fn request() -> EvaluationRequest {
    let case = include_str!("../../../policies/cases/qa-approved/allow-approved.json");
    let case: serde_json::Value = serde_json::from_str(case).unwrap();
    serde_json::from_value(case["request"].clone()).unwrap()
}

fn bench(c: &mut Criterion) {
    let bundle = promote_testkit::opa::build_dir(
        &workspace_root().join("examples/policies/rego/qa-approved"),
        &["promote/decision", "promote/validate_settings"],
    );
    let sources = [
        ("rego qa-approved", ModuleSource::File { path: bundle, sha256: None }),
        ("rust builtin:qa-approved", ModuleSource::Builtin("qa-approved".into())),
    ];
    let cold = Host::new(HostConfig::new(CacheMode::Disabled)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cached = Host::new(HostConfig::new(CacheMode::Dir(dir.path().into()))).unwrap();
    let req = request();

    let mut g = c.benchmark_group("qa-approved");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    for (name, source) in &sources {
        g.bench_function(format!("cold compile ({name})"), |b| {
            b.iter(|| cold.load(source).unwrap());
        });
        cached.load(source).unwrap();
        g.bench_function(format!("cached load ({name})"), |b| {
            b.iter(|| cached.load(source).unwrap());
        });
    }
    g.finish();

    let mut g = c.benchmark_group("qa-approved");
    g.sample_size(100)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    for (name, source) in &sources {
        let policy = cached.load(source).unwrap();
        let ev = cached.evaluate(&policy, &req).unwrap();
        assert_eq!(ev.decision.decision, Verdict::Allow, "{name}: {:?}", ev.decision);
        eprintln!("{name}: {} fuel per evaluation", ev.fuel_used);
        g.bench_function(format!("evaluate ({name}, fresh instance)"), |b| {
            b.iter(|| cached.evaluate(&policy, &req).unwrap());
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
