//! The `promote-standin` binary: started on a real repository with the example Applications,
//! it serves them with `repoURL` rewritten, writes its connection for a script to source, marks
//! the given tags Degraded, renders Helm charts with their value files, and stops cleanly on
//! SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use promote_testkit::repo::{GitOps, workspace_root};

fn get(server: &str, token: &str, path: &str) -> String {
    let addr = server.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connect to the stand-in");
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Waits until `app`'s JSON (from the REST API) contains every one of `needles`.
fn wait_for(server: &str, token: &str, app: &str, needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = get(server, token, &format!("/api/v1/applications/{app}"));
        if needles.iter().all(|n| got.contains(n)) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{app} never had {needles:?} within 30s: {got}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The example of many apps: staging's Helm app is rendered with its value file
/// (`values-staging.yaml` pins v1.0.0; the chart's own `values.yaml` says `latest`) and
/// auto-synced, as its Kustomize neighbour is.
#[test]
fn renders_a_helm_app_with_its_value_files() {
    let kit = GitOps::from_dir(&workspace_root().join("examples/gitops-apps"));
    let out = kit.root().join("standin.env");
    let apps = workspace_root().join("examples/gitops-apps/argocd");
    let mut child = Command::new(env!("CARGO_BIN_EXE_promote-standin"))
        .arg("--repo")
        .arg(&kit.origin)
        .arg("--app")
        .arg(apps.join("storefront-staging.yaml"))
        .arg("--app")
        .arg(apps.join("payments-staging.yaml"))
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start promote-standin");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !out.exists() {
        assert!(Instant::now() < deadline, "no {} within 20s", out.display());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    let env = std::fs::read_to_string(&out).unwrap();
    let var = |k: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("{k} in {env}"))
            .to_owned()
    };
    let (server, token) = (var("ARGOCD_SERVER"), var("ARGOCD_AUTH_TOKEN"));
    for (app, image) in [
        (
            "storefront-staging",
            "registry.example.com/shop/storefront:v1.0.0",
        ),
        (
            "payments-staging",
            "registry.example.com/shop/payments:v1.0.0",
        ),
    ] {
        let got = wait_for(
            &server,
            &token,
            app,
            &[
                "\"health\":{\"status\":\"Healthy\"",
                "\"status\":\"Synced\"",
            ],
        );
        assert!(got.contains(image), "{app}: {got}");
        assert!(!got.contains(":latest"), "{app}: {got}");
    }
    // SIGTERM, so it removes its scratch directory.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(child.wait().unwrap().success());
}

#[test]
fn serves_the_example_apps_from_the_repo_and_stops_on_sigterm() {
    let kit = GitOps::from_dir(&workspace_root().join("examples/gitops"));
    let out = kit.root().join("standin.env");
    let apps = workspace_root().join("examples/gitops/argocd");
    let mut child = Command::new(env!("CARGO_BIN_EXE_promote-standin"))
        .arg("--repo")
        .arg(&kit.origin)
        .arg("--app")
        .arg(apps.join("staging-microservices-demo.yaml"))
        .arg("--app")
        .arg(apps.join("prod-microservices-demo.yaml"))
        .args(["--degraded", "v1.0.0", "--out"])
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start promote-standin");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !out.exists() {
        assert!(Instant::now() < deadline, "no {} within 20s", out.display());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    let env = std::fs::read_to_string(&out).unwrap();
    let var = |k: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("{k} in {env}"))
            .to_owned()
    };
    let (kubeconfig, server, token) = (
        var("KUBECONFIG"),
        var("ARGOCD_SERVER"),
        var("ARGOCD_AUTH_TOKEN"),
    );
    assert!(std::path::Path::new(&kubeconfig).exists());

    let app = get(
        &server,
        &token,
        "/api/v1/applications/prod-microservices-demo",
    );
    assert!(app.starts_with("HTTP/1.1 200"), "{app}");
    assert!(
        app.contains(&format!(
            "\"repoURL\":\"{}\"",
            kit.origin.canonicalize().unwrap().display()
        )),
        "{app}"
    );
    // Staging has auto-sync: it deploys v1.0.0, which was marked Degraded.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let staging = get(
            &server,
            &token,
            "/api/v1/applications/staging-microservices-demo",
        );
        if staging.contains("\"health\":{\"status\":\"Degraded\"") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "staging never went Degraded: {staging}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "promote-standin did not stop within 20s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert!(
        !std::path::Path::new(&kubeconfig).exists(),
        "its scratch directory is removed"
    );
}
