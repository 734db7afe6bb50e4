//! Keyless signatures (issue 18), through the real binary, against the real `crane registry
//! serve`: `tests/keyless-signer` stands in for Fulcio and Rekor (a fresh root CA and Rekor key
//! per test, written as the `trusted_root.json` committed to the repo), signs the digest as a
//! GitHub Actions workflow and pushes cosign's `.sig` or a Sigstore bundle referrer; staging
//! trusts that identity under that root and requires `builtin:signed-images`. Everything is
//! verified offline. The real `cosign verify` checks that the stand-in's material is cosign's.

use promote_testkit::keyless::{Form, GITHUB_ISSUER, RELEASE_WORKFLOW, Sigstore, Tamper};
use promote_testkit::registry::Registry;
use promote_testkit::repo::GitOps;

use crate::supply_chain::{
    CART, DRY_JSON, commit_binary, hand_written_bump, rego_example, run, staging_trusts,
};

/// The example repo with staging trusting `(issuer, subject)` under keys/trusted_root.json,
/// gated by `builtin:signed-images`, plus `extra` policy entries; `sigstore` makes the root
/// (and signs, once the repo's images are in the registry).
fn trusting(
    reg: &Registry,
    (issuer, subject): (&str, &str),
    extra: &str,
    sigstore: impl FnOnce(&Registry) -> Sigstore,
) -> (GitOps, Sigstore) {
    let trust = format!(
        "      signatures:\n        - keyless: {{issuer: \"{issuer}\", subject: \"{subject}\", trustedRoot: keys/trusted_root.json}}\n"
    );
    let mut kit = staging_trusts(reg, &trust, "{}", extra);
    let sigstore = sigstore(reg);
    kit.put("keys/trusted_root.json", &sigstore.trusted_root());
    kit.commit("staging trusts the release workflow, keylessly");
    (kit, sigstore)
}

/// cartservice v1.0.1 signed by the release workflow.
fn signed(reg: &Registry, tamper: Tamper) -> Sigstore {
    Sigstore::sign(
        reg,
        (CART, "v1.0.1"),
        (GITHUB_ISSUER, RELEASE_WORKFLOW),
        tamper,
    )
}

/// cartservice v1.0.1 signed by the release workflow as a Sigstore bundle referrer.
fn bundled(reg: &Registry, tamper: Tamper) -> Sigstore {
    let image = (CART, "v1.0.1");
    let identity = (GITHUB_ISSUER, RELEASE_WORKFLOW);
    Sigstore::sign_as(reg, image, identity, (Form::Bundle, tamper))
}

/// The dry run, as text.
fn dry_text(kit: &GitOps) -> promote_testkit::repo::Run {
    run(kit, &DRY_JSON[..5])
}

/// The dry run's JSON document and exit code.
fn dry_run(kit: &GitOps) -> (i32, serde_json::Value) {
    let r = run(kit, &DRY_JSON);
    let doc =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}{}", r.stdout, r.stderr));
    (r.code, doc)
}

#[test]
fn a_keyless_signature_by_the_trusted_identity_is_verified_and_recorded() {
    let reg = Registry::start();
    let (kit, _) = trusting(&reg, (GITHUB_ISSUER, RELEASE_WORKFLOW), "", |r| {
        signed(r, Tamper::None)
    });

    let (code, doc) = dry_run(&kit);
    assert_eq!(code, 0, "{doc}");
    let chain = &doc["supplyChain"];
    assert_eq!(
        chain["identities"],
        serde_json::json!([{"issuer": GITHUB_ISSUER, "subject": RELEASE_WORKFLOW}])
    );
    assert_eq!(
        chain["images"][0]["signatures"],
        serde_json::json!([{"verified": true, "key": null, "identity": {"issuer": GITHUB_ISSUER, "subject": RELEASE_WORKFLOW}, "reason": null}]),
        "{chain}"
    );

    let r = run(&kit, &["staging", "v1.0.1", "--only", "cartservice"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "cartservice: 1 verified signature ({RELEASE_WORKFLOW})"
        )),
        "{}",
        r.stdout
    );
    let msg = kit.origin_git(&["log", "-1", "--format=%B", "main"]);
    assert!(
        msg.contains(&format!(
            "Supply-Chain: verified 1 signature (identity {RELEASE_WORKFLOW} from {GITHUB_ISSUER})\n"
        )),
        "{msg}"
    );
}

#[test]
fn another_subject_or_issuer_is_denied_naming_what_signed() {
    let reg = Registry::start();
    let other = "https://github.com/acme/shop/.github/workflows/nightly.yml@refs/heads/main";
    let (kit, sigstore) = trusting(&reg, (GITHUB_ISSUER, other), "", |r| {
        signed(r, Tamper::None)
    });
    let r = dry_text(&kit);
    assert_eq!(r.code, 3, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "signed by subject {RELEASE_WORKFLOW} (issuer {GITHUB_ISSUER}), not a trusted identity ({other} from {GITHUB_ISSUER})"
        )),
        "{}",
        r.stdout
    );

    // The same signature under the same root, but another trusted issuer.
    let trust = format!(
        "      signatures:\n        - keyless: {{issuer: https://gitlab.com, subject: \"{RELEASE_WORKFLOW}\", trustedRoot: keys/trusted_root.json}}\n"
    );
    let mut kit = staging_trusts(&reg, &trust, "{}", "");
    kit.put("keys/trusted_root.json", &sigstore.trusted_root());
    kit.commit("staging trusts GitLab's issuer");
    let (code, doc) = dry_run(&kit);
    assert_eq!(code, 3, "{doc}");
    let fact = &doc["supplyChain"]["images"][0]["signatures"][0];
    assert_eq!(fact["verified"], false, "{doc}");
    // What the certificate claims is shown, so a policy or a person can see who did sign.
    assert_eq!(fact["identity"]["issuer"], GITHUB_ISSUER);
    assert!(
        fact["reason"]
            .as_str()
            .unwrap()
            .contains("not a trusted identity"),
        "{fact}"
    );
}

#[test]
fn a_tampered_signed_entry_timestamp_does_not_count() {
    let reg = Registry::start();
    let (kit, _) = trusting(&reg, (GITHUB_ISSUER, RELEASE_WORKFLOW), "", |r| {
        signed(r, Tamper::Set)
    });
    let (code, doc) = dry_run(&kit);
    assert_eq!(code, 3, "{doc}");
    let fact = &doc["supplyChain"]["images"][0]["signatures"][0];
    assert_eq!(fact["verified"], false, "{doc}");
    assert_eq!(
        fact["reason"],
        "its Rekor signed entry timestamp does not verify with the log key in keys/trusted_root.json"
    );
}

#[test]
fn a_certificate_from_a_ca_outside_the_trusted_root_does_not_count() {
    let reg = Registry::start();
    // The trusted log logged it, but another CA issued the certificate.
    let (kit, _) = trusting(&reg, (GITHUB_ISSUER, RELEASE_WORKFLOW), "", |r| {
        signed(r, Tamper::ForeignCa)
    });
    let (code, doc) = dry_run(&kit);
    assert_eq!(code, 3, "{doc}");
    let reason = unverified_reason(&doc);
    assert!(
        reason.contains(
            "its certificate does not chain to a certificate authority of keys/trusted_root.json at the signing time"
        ),
        "{reason}"
    );
    // Whatever name that CA wrote into the certificate is not shown.
    assert_eq!(
        doc["supplyChain"]["images"][0]["signatures"][0].get("identity"),
        None,
        "{doc}"
    );
    assert!(
        dry_text(&kit)
            .stdout
            .contains("none by a trusted signer: its certificate does not chain"),
        "the built-in's denial says why"
    );

    // Signed and logged by another Sigstore instance altogether: its log is not trusted either.
    let (kit, _) = trusting(&reg, (GITHUB_ISSUER, RELEASE_WORKFLOW), "", |r| {
        signed(r, Tamper::None);
        Sigstore::new()
    });
    let (code, doc) = dry_run(&kit);
    assert_eq!(code, 3, "{doc}");
    let reason = unverified_reason(&doc);
    assert!(
        reason.contains("which the trusted root keys/trusted_root.json does not list"),
        "{reason}"
    );
}

/// The reason the first image's first signature does not count.
fn unverified_reason(doc: &serde_json::Value) -> String {
    let fact = &doc["supplyChain"]["images"][0]["signatures"][0];
    assert_eq!(fact["verified"], false, "{doc}");
    fact["reason"].as_str().unwrap().to_owned()
}

#[test]
fn a_missing_trusted_root_is_an_error_naming_the_file() {
    let reg = Registry::start();
    let trust = format!(
        "      signatures:\n        - keyless: {{issuer: \"{GITHUB_ISSUER}\", subject: \"{RELEASE_WORKFLOW}\", trustedRoot: keys/missing.json}}\n"
    );
    let mut kit = staging_trusts(&reg, &trust, "{}", "");
    kit.put(
        "keys/trusted_root.json",
        &signed(&reg, Tamper::None).trusted_root(),
    );
    kit.commit("a typo in the root's path");
    let r = dry_text(&kit);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("trusted root keys/missing.json") && r.stderr.contains("is not on"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_rego_policy_reads_the_identity() {
    let reg = Registry::start();
    let (bundle, sha) = rego_example("trusted-signer");
    // Staging's built-in takes the release workflow; the Rego policy only the nightly one.
    let nightly = "https://github.com/acme/shop/.github/workflows/nightly.yml@refs/heads/main";
    let rego = format!(
        "        - {{module: policies/trusted-signer.tar.gz, sha256: \"{sha}\", settings: {{identities: [{{issuer: \"{GITHUB_ISSUER}\", subject: \"{nightly}\"}}]}}}}\n"
    );
    let (kit, _) = trusting(&reg, (GITHUB_ISSUER, RELEASE_WORKFLOW), &rego, |r| {
        signed(r, Tamper::None)
    });
    commit_binary(&kit, "policies/trusted-signer.tar.gz", &bundle);
    let (code, doc) = dry_run(&kit);
    assert_eq!(code, 3, "{doc}");
    let reasons = doc["policy"]["reasons"].as_array().unwrap();
    assert_eq!(reasons.len(), 1, "{doc}");
    assert_eq!(reasons[0]["code"], "NoTrustedSigner");
    assert!(
        reasons[0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("signed by: {RELEASE_WORKFLOW}")),
        "{doc}"
    );
}

/// `cosign sign --new-bundle-format`, keyless: a Sigstore bundle referrer with an inclusion
/// proof and checkpoint, found through the referrers API (go-containerregistry's registry) and
/// through the fallback tag (crane's, which has no API), verified with its proof.
#[test]
fn a_keyless_sigstore_bundle_is_verified_through_the_referrers_api_and_the_fallback_tag() {
    for reg in [
        Registry::start_program(&promote_testkit::go::referrers_registry()),
        Registry::start(),
    ] {
        let (kit, _) = trusting(&reg, (GITHUB_ISSUER, RELEASE_WORKFLOW), "", |r| {
            bundled(r, Tamper::None)
        });
        let (code, doc) = dry_run(&kit);
        assert_eq!(code, 0, "{doc}");
        assert_eq!(
            doc["supplyChain"]["images"][0]["signatures"],
            serde_json::json!([{"verified": true, "key": null, "identity": {"issuer": GITHUB_ISSUER, "subject": RELEASE_WORKFLOW}, "reason": null}]),
            "{doc}"
        );
    }
}

#[test]
fn a_bundle_whose_inclusion_proof_was_altered_does_not_count() {
    let reg = Registry::start();
    let (kit, _) = trusting(&reg, (GITHUB_ISSUER, RELEASE_WORKFLOW), "", |r| {
        bundled(r, Tamper::Proof)
    });
    let (code, doc) = dry_run(&kit);
    assert_eq!(code, 3, "{doc}");
    assert_eq!(
        unverified_reason(&doc),
        "its Rekor inclusion proof does not lead to the proof's root hash"
    );
}

/// `kubectl promote verify` of a hand-written change checks the same keyless trust.
#[test]
fn verify_checks_a_hand_written_change_against_the_keyless_identity() {
    let reg = Registry::start();
    let (kit, _) = trusting(&reg, (GITHUB_ISSUER, RELEASE_WORKFLOW), "", |r| {
        signed(r, Tamper::None)
    });
    hand_written_bump(&kit);
    let r = run(&kit, &["verify"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "supply chain: verified 1 signature (identity {RELEASE_WORKFLOW} from {GITHUB_ISSUER})"
        )),
        "{}",
        r.stdout
    );
}

/// The test material is what the real `cosign verify` accepts, so these tests are not only
/// consistent with themselves: each form verifies with cosign for the right identity, and
/// cosign refuses another identity and a tampered SET, as we do.
#[test]
fn real_cosign_verifies_what_the_stand_in_signs_and_refuses_what_it_breaks() {
    for form in [Form::Sig, Form::Bundle] {
        // A registry per form: cosign switches to bundles when it sees any.
        let reg = Registry::start();
        let image = (CART, "v1.0.1");
        let (kit, sigstore) = trusting(&reg, (GITHUB_ISSUER, RELEASE_WORKFLOW), "", |r| {
            Sigstore::sign_as(
                r,
                image,
                (GITHUB_ISSUER, RELEASE_WORKFLOW),
                (form, Tamper::None),
            )
        });
        let identity = (GITHUB_ISSUER, RELEASE_WORKFLOW);
        sigstore
            .cosign_verify(&reg, image, identity, form)
            .unwrap_or_else(|e| panic!("{form:?}: {e}"));
        let other = (GITHUB_ISSUER, "https://github.com/acme/other");
        let refused = sigstore
            .cosign_verify(&reg, image, other, form)
            .unwrap_err();
        assert!(
            refused.to_lowercase().contains("identit"),
            "{form:?}: {refused}"
        );
        let (code, _) = dry_run(&kit);
        assert_eq!(code, 0, "{form:?}");

        let tampered = Sigstore::sign_as(&reg, image, identity, (form, Tamper::Set));
        let refused = tampered
            .cosign_verify(&reg, image, identity, form)
            .unwrap_err();
        // cosign says "unable to verify SET" for a `.sig`, "failed to verify log inclusion"
        // for a bundle.
        let said = refused.to_lowercase();
        assert!(
            said.contains("verify set") || said.contains("log inclusion"),
            "{form:?}: {refused}"
        );
    }
}
