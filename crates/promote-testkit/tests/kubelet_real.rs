//! The kubelet stand-in against a real kube-apiserver (`scripts/real-cluster.sh start`): ignored
//! by default because it needs the real servers, which `scripts/test.sh` does not start yet.
//!
//! ```text
//! bash scripts/real-cluster.sh start
//! REAL_CLUSTER_ENV=$(bash scripts/real-cluster.sh env | sed -n 's/^REAL_CLUSTER_DIR=//p')/env \
//!   cargo test -p promote-testkit --test kubelet_real -- --ignored
//! ```

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use promote_testkit::kubelet::{ApiServer, Kubelet, KubeletOptions, Verdict};
use serde_json::Value;

fn env_file() -> PathBuf {
    PathBuf::from(
        std::env::var("REAL_CLUSTER_ENV")
            .expect("REAL_CLUSTER_ENV names the env file of scripts/real-cluster.sh start"),
    )
}

fn kubeconfig() -> String {
    let text = std::fs::read_to_string(env_file()).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("KUBECONFIG="))
        .expect("KUBECONFIG in the env file")
        .to_owned()
}

fn kubectl(args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn deployment(ns: &str, tag: &str) -> String {
    format!(
        r#"{{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"shop","namespace":"{ns}"}},
"spec":{{"replicas":2,"selector":{{"matchLabels":{{"app":"shop"}}}},"template":{{"metadata":{{"labels":{{"app":"shop"}}}},
"spec":{{"containers":[{{"name":"shop","image":"registry.example.com/shop:{tag}"}}]}}}}}}}}"#
    )
}

/// Polls the Deployment until `check` holds on its status, or panics after 20 s.
fn until(ns: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d: Value = serde_json::from_str(&kubectl(
            &["-n", ns, "get", "deployment", "shop", "-o", "json"],
            None,
        ))
        .unwrap();
        if check(&d) {
            return d;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within 20 s: {}",
            d["status"]
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn progressing_reason(d: &Value) -> String {
    d["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Progressing")
        .and_then(|c| c["reason"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[test]
#[ignore = "needs the real kube-apiserver: bash scripts/real-cluster.sh start, then REAL_CLUSTER_ENV=<its env file>"]
fn writes_healthy_then_degraded_for_a_bad_tag_and_follows_new_generations() {
    let ns = format!("kubelet-{}", std::process::id());
    kubectl(&["create", "namespace", &ns], None);
    let api = ApiServer::from_env_file(&env_file()).unwrap();
    // Its own namespace: a kubelet the sandbox or another test runs looks at others.
    let options = KubeletOptions::default().bad_tag("v2").namespace(&ns);
    let kubelet = Kubelet::start(api, options).unwrap();

    kubectl(&["apply", "-f", "-"], Some(&deployment(&ns, "v1")));
    let d = until(&ns, "Healthy status", |d| {
        d["status"]["observedGeneration"] == d["metadata"]["generation"]
            && d["status"]["availableReplicas"] == 2
    });
    assert_eq!(progressing_reason(&d), "NewReplicaSetAvailable");

    // A new generation with a bad tag: the watch sees it and writes Degraded.
    kubectl(&["apply", "-f", "-"], Some(&deployment(&ns, "v2")));
    let d = until(&ns, "Degraded status", |d| {
        d["status"]["observedGeneration"] == d["metadata"]["generation"]
            && progressing_reason(d) == "ProgressDeadlineExceeded"
    });
    assert_eq!(d["status"]["availableReplicas"], Value::Null);

    // Marked good at run time: re-evaluated at once, same generation.
    kubelet.mark_good("v2").unwrap();
    until(&ns, "Healthy again", |d| {
        progressing_reason(d) == "NewReplicaSetAvailable"
    });
    let verdicts: Vec<Verdict> = kubelet
        .writes()
        .into_iter()
        .filter(|w| w.namespace == ns)
        .map(|w| w.verdict)
        .collect();
    assert_eq!(
        verdicts,
        [Verdict::Healthy, Verdict::Degraded, Verdict::Healthy]
    );

    drop(kubelet);
    kubectl(&["delete", "namespace", &ns, "--wait=false"], None);
}
