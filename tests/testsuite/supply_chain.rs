//! Signatures and provenance as policy facts (issue 18), through the real binary, against the
//! real `crane registry serve` and images signed and attested by the real `cosign` (a key pair
//! made for the test, `--tlog-upload=false`): staging trusts `keys/release.pub` (committed to the
//! base branch) and requires `builtin:signed-images`.

use promote_testkit::cosign::{KeyPair, Storage};
use promote_testkit::registry::Registry;
use promote_testkit::repo::{GitOps, Run, workspace_root};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_kubectl-promote");
pub(crate) const CART: &str = "microservices-demo/cartservice";
const STAGING_ARGO: &str = "    argocd: {app: staging-microservices-demo, namespace: argocd}\n";

/// A dry run of cartservice v1.0.1 into staging, as a JSON document.
pub(crate) const DRY_JSON: [&str; 7] = [
    "staging",
    "v1.0.1",
    "--only",
    "cartservice",
    "--dry-run",
    "-o",
    "json",
];

pub(crate) fn run(kit: &GitOps, args: &[&str]) -> Run {
    kit.run_bin(BIN, &kit.clone, &[], args)
}

/// The example repo on `reg` (every image at v1.0.0 and v1.0.1), with staging trusting `key`
/// and gated by `builtin:signed-images` with `settings`, plus `extra` policy entries.
fn trusting(reg: &Registry, key: &KeyPair, settings: &str, extra: &str) -> GitOps {
    let trust =
        "      signatures: [{key: keys/release.pub}]\n      attestations: [slsaprovenance]\n";
    let mut kit = staging_trusts(reg, trust, settings, extra);
    kit.put("keys/release.pub", &key.public_pem());
    kit.commit("staging trusts the release key");
    kit
}

/// The example repo on `reg` (every image at v1.0.0 and v1.0.1) with staging's `trust:` body
/// `trust` (indented six spaces) and `builtin:signed-images` with `settings`, plus `extra`
/// policy entries, put but not committed (the caller adds its trust files and commits).
pub(crate) fn staging_trusts(reg: &Registry, trust: &str, settings: &str, extra: &str) -> GitOps {
    let mut kit = GitOps::from_dir_on(
        &workspace_root().join("examples/gitops"),
        reg,
        &["v1.0.0", "v1.0.1"],
    );
    let config = kit.origin_file("promote.yaml").unwrap();
    assert!(config.contains(STAGING_ARGO), "{config}");
    let staging = format!(
        "{STAGING_ARGO}    trust:\n{trust}    policies:\n      promote:\n        - {{module: builtin:signed-images, settings: {settings}}}\n{extra}"
    );
    kit.put("promote.yaml", &config.replacen(STAGING_ARGO, &staging, 1));
    kit
}

#[test]
fn images_signed_by_the_trusted_key_are_promoted_and_the_check_is_recorded() {
    let reg = Registry::start();
    let release = KeyPair::generate();
    let kit = trusting(&reg, &release, "{}", "");
    release.sign(&reg, CART, "v1.0.1");

    let dry = run(&kit, &DRY_JSON);
    assert_eq!(dry.code, 0, "{}{}", dry.stdout, dry.stderr);
    let doc: serde_json::Value = serde_json::from_str(&dry.stdout).unwrap();
    let chain = &doc["supplyChain"];
    assert_eq!(chain["status"], "checked", "{doc}");
    assert_eq!(chain["keys"], serde_json::json!(["keys/release.pub"]));
    signed_by_release(chain, &reg);
    assert_eq!(chain["images"][0]["provenance"], serde_json::Value::Null);

    let r = run(&kit, &["staging", "v1.0.1", "--only", "cartservice"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("supply chain: verified 1 signature (key keys/release.pub)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("cartservice: 1 verified signature (keys/release.pub)"),
        "{}",
        r.stdout
    );
    let msg = kit.origin_git(&["log", "-1", "--format=%B", "main"]);
    assert!(
        msg.contains("Supply-Chain: verified 1 signature (key keys/release.pub)\n"),
        "{msg}"
    );
}

#[test]
fn an_unsigned_image_is_refused_with_the_fix() {
    let reg = Registry::start();
    let release = KeyPair::generate();
    let kit = trusting(&reg, &release, "{}", "");
    let before = kit.origin_head();
    let r = run(&kit, &["staging", "v1.0.1", "--only", "cartservice"]);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    let all = format!("{}{}", r.stdout, r.stderr);
    let digest = reg.digest(CART, "v1.0.1");
    assert!(
        all.contains(&format!(
            "cartservice: {}/{CART}@{digest} is not signed; sign it with the release key (`cosign sign --key cosign.key",
            reg.host()
        )),
        "{all}"
    );
    // The plan says why: the registry has no signature tag for the digest.
    assert!(
        all.contains(&format!("no signature tag sha256-{}.sig", &digest[7..])),
        "{all}"
    );
    assert_eq!(kit.origin_head(), before, "nothing pushed");
}

#[test]
fn a_signature_by_another_key_does_not_count() {
    let reg = Registry::start();
    let (release, other) = (KeyPair::generate(), KeyPair::generate());
    let kit = trusting(&reg, &release, "{}", "");
    other.sign(&reg, CART, "v1.0.1");
    let r = run(
        &kit,
        &["staging", "v1.0.1", "--only", "cartservice", "--dry-run"],
    );
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(
            "has 1 signature but none by a trusted signer: signed, but by none of the trusted keys"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(
            "cartservice: 1 signature, none verified (signed, but by none of the trusted keys)"
        ),
        "{}",
        r.stdout
    );
}

#[test]
fn skipping_the_image_check_skips_the_signatures_and_the_built_in_denies() {
    let reg = Registry::start();
    let release = KeyPair::generate();
    let kit = trusting(&reg, &release, "{}", "");
    release.sign(&reg, CART, "v1.0.1");
    let r = run(
        &kit,
        &[
            "staging",
            "v1.0.1",
            "--only",
            "cartservice",
            "--skip-image-check",
            "--dry-run",
        ],
    );
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("supply chain: not checked (skipped by"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("cartservice: no signature was checked"),
        "{}",
        r.stdout
    );
}

#[test]
fn provenance_is_verified_and_a_rego_policy_refuses_the_wrong_branch() {
    let reg = Registry::start();
    let release = KeyPair::generate();
    let (bundle, sha) = rego_example("trusted-builder");
    let builder = "https://github.com/acme/shop/.github/workflows/release.yml@refs/heads/main";
    let rego = format!(
        "        - {{module: policies/trusted-builder.tar.gz, sha256: \"{sha}\", settings: {{builders: [\"{builder}\"], branch: main}}}}\n"
    );
    let kit = trusting(
        &reg,
        &release,
        "{requireProvenance: {sourceRepo: \"https://github.com/acme/shop\"}}",
        &rego,
    );
    commit_binary(&kit, "policies/trusted-builder.tar.gz", &bundle);
    let shop = "https://github.com/acme/shop";
    let revision = "1111111111111111111111111111111111111111";
    release.sign(&reg, CART, "v1.0.1");
    release.attest_provenance(
        &reg,
        (CART, "v1.0.1"),
        (shop, "refs/heads/feature", revision),
    );

    let r = run(&kit, &DRY_JSON);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let provenance = &doc["supplyChain"]["images"][0]["provenance"];
    assert_eq!(provenance["sourceRepo"], shop, "{doc}");
    assert_eq!(provenance["sourceRef"], "refs/heads/feature");
    assert_eq!(provenance["sourceRevision"], revision);
    assert_eq!(
        provenance["builder"],
        "https://github.com/acme/shop/.github/workflows/release.yml@refs/heads/feature"
    );
    assert_eq!(provenance["key"], "keys/release.pub");
    let reasons: Vec<&str> = doc["policy"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["code"].as_str().unwrap())
        .collect();
    // The built-in accepts the repository; the Rego policy refuses the builder of another branch.
    assert_eq!(reasons, ["UntrustedBuilder"], "{doc}");

    // Attested again from main: the newest verified provenance counts, and both allow.
    release.attest_provenance(&reg, (CART, "v1.0.1"), (shop, "refs/heads/main", revision));
    let r = run(
        &kit,
        &["staging", "v1.0.1", "--only", "cartservice", "--dry-run"],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "provenance: built by {builder} from {shop}@{revision}"
        )),
        "{}",
        r.stdout
    );
}

/// A report's `supplyChain` (checked) holds cartservice v1.0.1's digest with one signature,
/// verified by the release key.
fn signed_by_release(chain: &serde_json::Value, reg: &Registry) {
    let digest = reg.digest(CART, "v1.0.1");
    assert_eq!(
        chain["images"][0]["reference"],
        format!("{}/{CART}@{digest}", reg.host()),
        "{chain}"
    );
    assert_eq!(
        chain["images"][0]["signatures"],
        serde_json::json!([{"verified": true, "key": "keys/release.pub", "reason": null}]),
        "{chain}"
    );
}

/// `examples/policies/rego/NAME` built into an OPA bundle, with its sha256 (hex).
pub(crate) fn rego_example(name: &str) -> (Vec<u8>, String) {
    let bundle = std::fs::read(promote_testkit::opa::build_dir(
        &workspace_root().join("examples/policies/rego").join(name),
        &["promote/decision", "promote/validate_settings"],
    ))
    .unwrap();
    let sha = sha256_hex(&bundle);
    (bundle, sha)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()[..64].to_owned()
}

/// Commits a binary file to origin's main through a scratch clone.
pub(crate) fn commit_binary(kit: &GitOps, path: &str, bytes: &[u8]) {
    let scratch = kit.root().join("ops");
    kit.git_in(
        kit.root(),
        &["clone", "--quiet", kit.origin.to_str().unwrap(), "ops"],
    );
    let file = scratch.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, bytes).unwrap();
    kit.git_in(&scratch, &["add", path]);
    kit.git_in(
        &scratch,
        &[
            "-c",
            "user.name=Ops",
            "-c",
            "user.email=ops@example.com",
            "commit",
            "--quiet",
            "-m",
            "the policy bundle",
        ],
    );
    kit.git_in(&scratch, &["push", "--quiet", "origin", "HEAD:main"]);
}

/// A hand-written bump of cartservice in staging's overlay, committed in the user's clone on
/// top of origin's main (for `kubectl promote verify`).
pub(crate) fn hand_written_bump(kit: &GitOps) {
    kit.git(&["pull", "--quiet", "--ff-only", "origin", "main"]);
    let path = kit.clone.join("kustomize/staging/kustomization.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let at = text.find("cartservice\n").expect("cartservice entry");
    let (head, tail) = text.split_at(at);
    let bumped = format!(
        "{head}{}",
        tail.replacen("newTag: v1.0.0", "newTag: v1.0.1", 1)
    );
    std::fs::write(&path, bumped).unwrap();
    kit.git(&[
        "commit",
        "--quiet",
        "-am",
        "staging: cartservice v1.0.1 by hand",
    ]);
}

#[test]
fn verify_shows_the_signatures_of_a_hand_written_change_and_honours_the_skip() {
    let reg = Registry::start();
    let release = KeyPair::generate();
    let kit = trusting(&reg, &release, "{}", "");
    release.sign(&reg, CART, "v1.0.1");
    hand_written_bump(&kit);

    let r = run(&kit, &["verify", "-o", "json"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let staging = &doc["environments"][0];
    assert_eq!(staging["environment"], "staging", "{doc}");
    let chain = &staging["supplyChain"];
    assert_eq!(chain["status"], "checked", "{doc}");
    signed_by_release(chain, &reg);
    let text = run(&kit, &["verify"]);
    assert_eq!(text.code, 0, "{}{}", text.stdout, text.stderr);
    assert!(
        text.stdout
            .contains("supply chain: verified 1 signature (key keys/release.pub)")
            && text
                .stdout
                .contains("cartservice: 1 verified signature (keys/release.pub)"),
        "{}",
        text.stdout
    );

    // Skipped (flag or variable): no registry is asked, the report says who skipped it, and
    // the built-in denies what it could not see signed.
    let flag = run(&kit, &["verify", "--skip-image-check"]);
    let var = kit.run_bin(
        BIN,
        &kit.clone,
        &[("KUBECTL_PROMOTE_SKIP_IMAGE_CHECK", "1")],
        &["verify", "-o", "json"],
    );
    assert_eq!(flag.code, 3, "{}{}", flag.stdout, flag.stderr);
    assert!(
        flag.stdout
            .contains("supply chain: not checked (skipped by")
            && flag
                .stdout
                .contains("cartservice: no signature was checked"),
        "{}",
        flag.stdout
    );
    assert_eq!(var.code, 3, "{}{}", var.stdout, var.stderr);
    let doc: serde_json::Value = serde_json::from_str(&var.stdout).unwrap();
    let chain = &doc["environments"][0]["supplyChain"];
    assert_eq!(chain["status"], "skipped", "{doc}");
    assert!(chain["by"].as_str().unwrap().contains('<'), "{doc}");
    assert_eq!(doc["environments"][0]["result"], "denied");
}

/// `cosign sign --registry-referrers-mode=oci-1-1` keeps the signature as an OCI referrer.
/// crane's registry does not serve the referrers API (it answers 404), so cosign listed it under
/// the fallback tag `sha256-<hex>`, which is where it is found.
#[test]
fn a_signature_kept_as_an_oci_referrer_counts_through_the_fallback_tag() {
    let reg = Registry::start();
    let release = KeyPair::generate();
    let kit = trusting(&reg, &release, "{}", "");
    release.sign_in(&reg, (CART, "v1.0.1"), Storage::Referrer);
    let r = run(&kit, &DRY_JSON);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    signed_by_release(&doc["supplyChain"], &reg);
    let image = &doc["supplyChain"]["images"][0];
    let digest = reg.digest(CART, "v1.0.1");
    assert!(
        reg.tags(CART).contains(&format!("sha256-{}", &digest[7..])),
        "{:?}",
        reg.tags(CART)
    );
    // The cosign tags are not there: the fallback tag was read.
    assert_eq!(
        image["notes"][0],
        format!(
            "no signature tag sha256-{}.sig in {}",
            &digest[7..],
            reg.host()
        ),
        "{doc}"
    );
}

/// `cosign sign|attest --new-bundle-format` against a registry that serves the referrers API:
/// each is a Sigstore bundle (a DSSE envelope) listed by `GET /v2/<name>/referrers/<digest>`.
/// Another key's bundle does not count; the release key's signature and provenance do.
#[test]
fn sigstore_bundles_listed_by_the_referrers_api_are_verified() {
    let reg = Registry::start_program(&promote_testkit::go::referrers_registry());
    let (release, other) = (KeyPair::generate(), KeyPair::generate());
    let shop = "https://github.com/acme/shop";
    let settings = format!("{{requireProvenance: {{sourceRepo: \"{shop}\", branch: main}}}}");
    let kit = trusting(&reg, &release, &settings, "");
    other.sign_in(&reg, (CART, "v1.0.1"), Storage::Bundle);
    let r = run(&kit, &DRY_JSON);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        doc["supplyChain"]["images"][0]["signatures"],
        serde_json::json!([{"verified": false, "key": null,
            "reason": "it is signed by none of the trusted keys"}]),
        "{doc}"
    );

    let revision = "2222222222222222222222222222222222222222";
    release.sign_in(&reg, (CART, "v1.0.1"), Storage::Bundle);
    release.attest_provenance_in(
        &reg,
        (CART, "v1.0.1"),
        (shop, "refs/heads/main", revision),
        Storage::Bundle,
    );
    // Listed by the API only: no cosign tag, no fallback tag.
    let mut tags = reg.tags(CART);
    tags.sort();
    assert_eq!(tags, ["v1.0.0", "v1.0.1"]);
    let r = run(&kit, &DRY_JSON);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let image = &doc["supplyChain"]["images"][0];
    let verified: Vec<&serde_json::Value> = image["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["verified"] == true)
        .collect();
    assert_eq!(verified.len(), 1, "{doc}");
    assert_eq!(verified[0]["key"], "keys/release.pub");
    assert_eq!(image["signatures"].as_array().unwrap().len(), 2, "{doc}");
    assert_eq!(image["provenance"]["sourceRepo"], shop, "{doc}");
    assert_eq!(image["provenance"]["sourceRef"], "refs/heads/main");
    assert_eq!(image["provenance"]["sourceRevision"], revision);
}
