//! Costs of the policy host: compiling a module from scratch, loading it from the compiled
//! cache, and one evaluation from a loaded module (fresh store + instance per call), for the
//! Rust built-in qa-approved next to its Go twin (`examples/policies/go/qa-approved`, built with
//! the real Go toolchain) and semver-guard. After criterion's groups it prints module sizes,
//! per-call p50/p99 and the fuel each call burns, including Go's bare runtime start. Not part
//! of CI; run with `cargo bench -p promote-policy --bench evaluate` (add `--profile dev` to reuse
//! the test build: compile times grow, fuel and memory do not change).

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use promote_policy::sdk::EvaluationRequest;
use promote_policy::{CacheMode, Host, HostConfig, ModuleSource, Policy};

fn case(path: &str) -> EvaluationRequest {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/cases");
    let case: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join(path)).unwrap()).unwrap();
    let mut req: EvaluationRequest = serde_json::from_value(case["request"].clone()).unwrap();
    req.settings = case["settings"].clone();
    req
}

fn go_qa() -> ModuleSource {
    ModuleSource::File {
        path: promote_testkit::go::go_qa_approved(),
        sha256: None,
    }
}

/// A Go module whose main only writes a fixed Decision: Go's runtime start and nothing else.
fn go_floor() -> ModuleSource {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("go.mod"), "module floor\n\ngo 1.22\n").unwrap();
    std::fs::write(
        dir.path().join("main.go"),
        "package main\n\nimport \"os\"\n\nfunc main() {\n\tos.Stdout.WriteString(`{\"apiVersion\":\"policy.promote.kubectl.io/v1alpha1\",\"kind\":\"Decision\",\"decision\":\"allow\"}`)\n}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("promote-policy.yaml"),
        "name: go-floor\nversion: 0.0.0\nabi: promote.wasi-command/v1\noperations: [promote, rollback]\n",
    )
    .unwrap();
    ModuleSource::File {
        path: promote_testkit::go::go_policy(dir.path()),
        sha256: None,
    }
}

fn bench(c: &mut Criterion) {
    let modules = [
        ("semver-guard", ModuleSource::Builtin("semver-guard".into())),
        (
            "qa-approved rust",
            ModuleSource::Builtin("qa-approved".into()),
        ),
        ("qa-approved go", go_qa()),
    ];
    let mut g = c.benchmark_group("policy");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(1));
    let cold = Host::new(HostConfig::new(CacheMode::Disabled)).unwrap();
    for (name, source) in &modules {
        g.bench_function(format!("cold compile ({name}, no cache)"), |b| {
            b.iter(|| cold.load(source).unwrap());
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let cached = Host::new(HostConfig::new(CacheMode::Dir(dir.path().into()))).unwrap();
    for (name, source) in &modules {
        cached.load(source).unwrap();
        g.bench_function(format!("cached load ({name})"), |b| {
            b.iter(|| cached.load(source).unwrap());
        });
    }
    g.finish();

    let requests = [
        case("semver-guard/allow-patch.json"),
        case("qa-approved/allow-approved.json"),
        case("qa-approved/allow-approved.json"),
    ];
    let mut g = c.benchmark_group("policy");
    g.measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_secs(1));
    for ((name, source), req) in modules.iter().zip(&requests) {
        let policy = cached.load(source).unwrap();
        g.bench_function(format!("evaluate ({name}, cached module)"), |b| {
            b.iter(|| cached.evaluate(&policy, req).unwrap());
        });
    }
    g.finish();

    report(&cached, dir.path(), &modules, &requests);
}

/// Sizes, p50/p99 per call and fuel, printed after criterion's groups.
fn report(
    host: &Host,
    cache: &Path,
    modules: &[(&str, ModuleSource)],
    requests: &[EvaluationRequest],
) {
    const CALLS: usize = 400;
    let percentiles = |policy: &Policy, req: &EvaluationRequest| {
        let mut times: Vec<Duration> = (0..CALLS)
            .map(|_| {
                let t = Instant::now();
                host.evaluate(policy, req).unwrap();
                t.elapsed()
            })
            .collect();
        times.sort();
        (times[CALLS / 2], times[CALLS * 99 / 100])
    };
    eprintln!("\nmodule                 bytes      p50        p99        fuel/call");
    for ((name, source), req) in modules.iter().zip(requests) {
        let policy = host.load(source).unwrap();
        let (p50, p99) = percentiles(&policy, req);
        let fuel = host.evaluate(&policy, req).unwrap().fuel_used;
        eprintln!(
            "{name:<22} {:<10} {p50:<10.2?} {p99:<10.2?} {fuel}",
            size(source)
        );
    }
    // Go's runtime start: a main that only writes a Decision, and the qa policy on a request
    // it dismisses at once (a rollback: all package inits, a small JSON decode, no logic).
    let floor = go_floor();
    let policy = host.load(&floor).unwrap();
    let req = &requests[1];
    let (p50, p99) = percentiles(&policy, req);
    let fuel = host.evaluate(&policy, req).unwrap().fuel_used;
    eprintln!(
        "{:<22} {:<10} {p50:<10.2?} {p99:<10.2?} {fuel}",
        "go runtime start only",
        size(&floor)
    );
    for (name, source) in &modules[1..] {
        eprintln!(
            "{name}: needs {} MiB of memory on allow-approved",
            min_memory_mib(source, req, cache)
        );
    }
    let mut rollback = case("rollback-guard/allow-previous.json");
    rollback.settings = serde_json::json!({});
    let policy = host.load(&modules[2].1).unwrap();
    let (p50, p99) = percentiles(&policy, &rollback);
    let fuel = host.evaluate(&policy, &rollback).unwrap().fuel_used;
    eprintln!(
        "{:<22} {:<10} {p50:<10.2?} {p99:<10.2?} {fuel}",
        "qa go, dismissed req",
        size(&modules[2].1)
    );
}

/// The smallest memory limit (MiB) under which `source` still decides `req`.
fn min_memory_mib(source: &ModuleSource, req: &EvaluationRequest, cache: &Path) -> u64 {
    let fits = |mib: u64| {
        let mut config = HostConfig::new(CacheMode::Dir(cache.into()));
        config.defaults.memory_bytes = mib << 20;
        let host = Host::new(config).unwrap();
        let policy = host.load(source).unwrap();
        host.evaluate(&policy, req).is_ok()
    };
    let (mut lo, mut hi) = (0, 128);
    assert!(fits(hi), "does not fit the default 128 MiB");
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if fits(mid) { hi = mid } else { lo = mid }
    }
    hi
}

fn size(source: &ModuleSource) -> usize {
    match source {
        ModuleSource::Builtin(n) => promote_policy::builtin_bytes(n).map_or(0, <[u8]>::len),
        ModuleSource::File { path, .. } => std::fs::metadata(path).map_or(0, |m| m.len() as usize),
        ModuleSource::Bytes { bytes, .. } => bytes.len(),
        ModuleSource::Krew(installed) => {
            std::fs::metadata(&installed.module).map_or(0, |m| m.len() as usize)
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
