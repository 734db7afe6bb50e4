//! The registry adapter against a real OCI registry (`crane registry serve` on loopback) and,
//! for authentication, the testkit's token stand-in: lookups, digests, not-found as an answer,
//! credentials from the docker config, and no secret in any error.

use promote_core::registry::{
    ImageName, ImageQuery, ImageResolver, Lookup, Reference, RegistryError,
};
use promote_core::source::{ImageLabels, LABEL_REVISION, LABEL_SOURCE, LABEL_VERSION};
use promote_http::registry::{HttpRegistry, RegistryOptions};
use promote_testkit::registry::{FAKE_MANIFEST, Registry, TokenRegistry};
use sha2::{Digest as _, Sha256};

fn query(image: &str, tag: &str) -> ImageQuery {
    ImageQuery {
        image: ImageName::parse(image).unwrap(),
        reference: Reference::Tag(tag.into()),
    }
}

#[test]
fn tags_resolve_to_cranes_digests_and_unknown_tags_are_not_found() {
    let reg = Registry::start();
    let digest = reg.push("shop/cart", "v1");
    let client = HttpRegistry::new(&RegistryOptions::default()).unwrap();
    let image = format!("{}/shop/cart", reg.host());
    assert_eq!(
        client.resolve(&query(&image, "v1")).unwrap(),
        Lookup::Found {
            digest: digest.clone()
        }
    );
    let by_digest = ImageQuery {
        image: ImageName::parse(&image).unwrap(),
        reference: Reference::Digest(digest.clone()),
    };
    assert_eq!(
        client.resolve(&by_digest).unwrap(),
        Lookup::Found { digest }
    );
    assert_eq!(
        client.resolve(&query(&image, "v9")).unwrap(),
        Lookup::NotFound {
            request: "HEAD /v2/shop/cart/manifests/v9 → 404".into()
        }
    );
    assert!(matches!(
        client
            .resolve(&query(&format!("{}/shop/nope", reg.host()), "v1"))
            .unwrap(),
        Lookup::NotFound { .. }
    ));
}

#[test]
fn an_images_source_labels_are_read_from_its_config_and_an_unlabelled_one_has_none() {
    let reg = Registry::start();
    let digest = reg.push_labelled(
        "shop/cart",
        "v2",
        &[
            (LABEL_SOURCE, "https://github.com/acme/cart.git"),
            (LABEL_REVISION, "e4f5a6b7c8d9"),
            (LABEL_VERSION, "2.0.0"),
        ],
    );
    reg.push("shop/cart", "v1");
    let client = HttpRegistry::new(&RegistryOptions::default()).unwrap();
    let image = format!("{}/shop/cart", reg.host());
    let labels = client.labels(&query(&image, "v2")).unwrap().unwrap();
    assert_eq!(
        labels,
        ImageLabels {
            source: Some("https://github.com/acme/cart".into()),
            revision: Some("e4f5a6b7c8d9".into()),
            version: Some("2.0.0".into()),
        }
    );
    // By digest, the same (and the content is checked against it).
    let by_digest = ImageQuery {
        image: ImageName::parse(&image).unwrap(),
        reference: Reference::Digest(digest),
    };
    assert_eq!(client.labels(&by_digest).unwrap(), Some(labels));
    // No labels: known, empty; no such tag: None.
    assert!(
        client
            .labels(&query(&image, "v1"))
            .unwrap()
            .unwrap()
            .is_empty()
    );
    assert_eq!(client.labels(&query(&image, "v9")).unwrap(), None);
}

#[test]
fn an_unreachable_registry_is_an_error_that_offers_the_way_out() {
    // A port nothing listens on: bind and drop.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = HttpRegistry::new(&RegistryOptions::default()).unwrap();
    let err = client
        .resolve(&query(&format!("127.0.0.1:{port}/shop/cart"), "v1"))
        .unwrap_err();
    assert!(matches!(err, RegistryError::Transport { .. }), "{err}");
    assert!(err.to_string().contains("--skip-image-check"), "{err}");
}

#[test]
fn docker_config_auths_answer_the_token_flow_and_stay_secret() {
    let d = format!("sha256:{}", "d".repeat(64));
    let fake = TokenRegistry::start(
        "ana",
        "pa55-word",
        &[("shop/cart", "v1", &d), ("shop/cart", "nodigest", "")],
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    // base64("ana:pa55-word")
    std::fs::write(
        &config,
        format!(
            "{{\"auths\": {{\"http://{}\": {{\"auth\": \"YW5hOnBhNTUtd29yZA==\"}}}}}}",
            fake.host
        ),
    )
    .unwrap();
    let client = HttpRegistry::new(&RegistryOptions {
        docker_config: Some(config.clone()),
        ..Default::default()
    })
    .unwrap();
    let image = format!("{}/shop/cart", fake.host);
    assert_eq!(
        client.resolve(&query(&image, "v1")).unwrap(),
        Lookup::Found { digest: d.clone() }
    );
    // Without Docker-Content-Digest: the sha256 of the manifest's bytes.
    let expected = format!(
        "sha256:{}",
        hex::encode(Sha256::digest(FAKE_MANIFEST.as_bytes()))
    );
    assert_eq!(
        client.resolve(&query(&image, "nodigest")).unwrap(),
        Lookup::Found { digest: expected }
    );
    assert!(matches!(
        client.resolve(&query(&image, "v2")).unwrap(),
        Lookup::NotFound { .. }
    ));
    // The token is reused: one token request for all three lookups.
    let tokens = fake
        .seen
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|r| r.starts_with("GET /token"))
        .count();
    assert_eq!(tokens, 1, "{:#?}", fake.seen.lock().unwrap().requests);

    // Anonymous: the token endpoint refuses, and the error says what to do, with no secret.
    let anonymous = HttpRegistry::new(&RegistryOptions::default()).unwrap();
    let err = anonymous
        .resolve(&query(&image, "v1"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("refused access to shop/cart (HTTP 401") && err.contains("docker login"),
        "{err}"
    );
    // Wrong password: named, not shown.
    std::fs::write(
        &config,
        format!(
            "{{\"auths\": {{\"{}\": {{\"username\": \"ana\", \"password\": \"not-the-pa55\"}}}}}}",
            fake.host
        ),
    )
    .unwrap();
    let wrong = HttpRegistry::new(&RegistryOptions {
        docker_config: Some(config),
        ..Default::default()
    })
    .unwrap();
    let err = wrong.resolve(&query(&image, "v1")).unwrap_err();
    let shown = format!("{err} {err:?} {wrong:?}");
    assert!(
        shown.contains("with the credentials from the docker config")
            || shown.contains("for the credentials from the docker config"),
        "{shown}"
    );
    for secret in [
        "pa55-word",
        "not-the-pa55",
        "YW5hOnBhNTUtd29yZA==",
        promote_testkit::registry::FAKE_TOKEN,
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[test]
fn an_identity_token_is_exchanged_by_the_refresh_token_grant_and_stays_secret() {
    let d = format!("sha256:{}", "e".repeat(64));
    let fake = TokenRegistry::start("ana", "pa55-word", &[("shop/cart", "v1", &d)]);
    fake.accept_identity_token("refresh-7f3a");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        format!(
            "{{\"auths\": {{\"{}\": {{\"identitytoken\": \"refresh-7f3a\"}}}}}}",
            fake.host
        ),
    )
    .unwrap();
    let client = HttpRegistry::new(&RegistryOptions {
        docker_config: Some(config.clone()),
        ..Default::default()
    })
    .unwrap();
    let image = format!("{}/shop/cart", fake.host);
    assert_eq!(
        client.resolve(&query(&image, "v1")).unwrap(),
        Lookup::Found { digest: d }
    );
    let seen = fake.seen.lock().unwrap().clone();
    // One form POST to the realm, as OAuth2's refresh-token grant has it; no GET for a token.
    assert_eq!(seen.forms.len(), 1, "{seen:#?}");
    let form: std::collections::BTreeMap<_, _> = seen.forms[0].iter().cloned().collect();
    let field = |k: &str| form.get(k).map(String::as_str);
    assert_eq!(field("grant_type"), Some("refresh_token"));
    assert_eq!(field("refresh_token"), Some("refresh-7f3a"));
    assert_eq!(field("client_id"), Some("kubectl-promote"));
    assert_eq!(field("service"), Some("fake-registry"));
    assert_eq!(field("scope"), Some("repository:shop/cart:pull"));
    assert!(
        !seen.requests.iter().any(|r| r.starts_with("GET /token")),
        "{seen:#?}"
    );
    // The identity token went in the form body only, never in a header.
    assert!(
        !seen.requests.iter().any(|r| r.contains("refresh-7f3a")),
        "{seen:#?}"
    );

    // An identity token the endpoint does not know: refused, named, not shown.
    std::fs::write(
        &config,
        format!(
            "{{\"auths\": {{\"{}\": {{\"identitytoken\": \"stale-9c1d\"}}}}}}",
            fake.host
        ),
    )
    .unwrap();
    let stale = HttpRegistry::new(&RegistryOptions {
        docker_config: Some(config),
        ..Default::default()
    })
    .unwrap();
    let err = stale.resolve(&query(&image, "v1")).unwrap_err();
    let shown = format!("{err} {err:?} {stale:?}");
    assert!(
        shown.contains("at its token endpoint") && shown.contains("docker config"),
        "{shown}"
    );
    assert!(!shown.contains("stale-9c1d"), "{shown}");
}
