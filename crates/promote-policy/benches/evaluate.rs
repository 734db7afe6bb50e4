//! Costs of the policy host: compiling a built-in from scratch, loading it from the compiled
//! cache, and one evaluation from a loaded module (fresh store + instance per call). Not part
//! of CI; run with `cargo bench -p promote-policy`.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use promote_policy::sdk::EvaluationRequest;
use promote_policy::{CacheMode, Host, HostConfig, ModuleSource};

fn request() -> EvaluationRequest {
    let case = include_str!("../../../policies/cases/semver-guard/allow-patch.json");
    let case: serde_json::Value = serde_json::from_str(case).unwrap();
    serde_json::from_value(case["request"].clone()).unwrap()
}

fn bench(c: &mut Criterion) {
    let source = ModuleSource::Builtin("semver-guard".into());
    let mut g = c.benchmark_group("policy");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));

    let cold = Host::new(HostConfig::new(CacheMode::Disabled)).unwrap();
    g.bench_function("cold compile (semver-guard, no cache)", |b| {
        b.iter(|| cold.load(&source).unwrap());
    });

    let dir = tempfile::tempdir().unwrap();
    let cached = Host::new(HostConfig::new(CacheMode::Dir(dir.path().into()))).unwrap();
    cached.load(&source).unwrap();
    g.bench_function("cached load (semver-guard)", |b| {
        b.iter(|| cached.load(&source).unwrap());
    });
    g.finish();

    let policy = cached.load(&source).unwrap();
    let req = request();
    let mut g = c.benchmark_group("policy");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    g.bench_function("evaluate (semver-guard, cached module)", |b| {
        b.iter(|| cached.evaluate(&policy, &req).unwrap());
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
