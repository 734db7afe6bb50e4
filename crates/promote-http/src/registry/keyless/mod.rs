//! Keyless (Fulcio certificate + Rekor entry) cosign signatures, verified offline against the
//! trusted roots the environment's `trust.signatures[].keyless` name, on what our own registry
//! client fetched (issue 18). Two carriers: a `.sig` layer with cosign's annotations
//! ([`cosign`]) and a Sigstore bundle among the digest's referrers ([`bundle`]). Both come down
//! to the same evidence, judged here: a leaf certificate, a signature it made, and a Rekor entry.
//!
//! A keyless signature counts only when all of this holds:
//! - the Rekor entry is vouched for by a log of the trusted root ([`super::tlog`]: its SET,
//!   and an inclusion proof with its checkpoint where there is one), which makes the entry's
//!   integrated time the signing time;
//! - the leaf chains to a certificate authority of the trusted root that was valid then, and
//!   every certificate of the path was valid then (Fulcio certificates live 10 minutes): X.509
//!   path validation is rustls-webpki's, with the code-signing extended key usage, through the
//!   trusted root's own intermediates only (a chain sent along is not trusted);
//! - the carrier's own checks ([`Content`]): the entry is about this signature, the leaf's key
//!   verifies it (sigstore-rs's verification keys), and what was signed names this digest;
//! - the leaf's identity equals a trusted one: its SAN (URI or email) is the `subject`, its
//!   Fulcio issuer extension (1.3.6.1.4.1.57264.1.8, else the older .1.1) is the `issuer`.

pub(super) mod bundle;
pub(super) mod cosign;

use rustls_pki_types::{CertificateDer, UnixTime};
use sigstore::crypto::{CosignVerificationKey, Signature};
use x509_cert::Certificate;
use x509_cert::der::asn1::{ObjectIdentifier, Utf8StringRef};
use x509_cert::der::{Decode as _, Encode as _};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use promote_core::registry::RegistryError;
use promote_core::supply_chain::{Identity, KeylessTrust, SignatureFact};

use super::tlog::{self, Entry};
use super::trusted_root::{self, TrustedRoot};

/// Fulcio's OIDC issuer extensions: v2 (a DER UTF8String) and v1 (the raw string).
const ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
const ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
/// Fulcio's otherName SAN for a username identity (`user!domain`).
const USERNAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");
/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3), DER content octets, as webpki wants it.
const CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// A trusted root with the identities trusted under it.
#[derive(Debug)]
pub(super) struct Root {
    root: TrustedRoot,
    identities: Vec<Identity>,
}

/// The environment's keyless trust, parsed: one [`Root`] per distinct trusted-root file.
pub(super) fn roots(trust: &[KeylessTrust]) -> Result<Vec<Root>, RegistryError> {
    let mut out: Vec<Root> = Vec::new();
    for t in trust {
        let identity = t.signer.identity.clone();
        if let Some(r) = out
            .iter_mut()
            .find(|r| r.root.path == t.signer.trusted_root)
        {
            r.identities.push(identity);
            continue;
        }
        out.push(Root {
            root: trusted_root::parse(&t.signer.trusted_root, &t.root_json)?,
            identities: vec![identity],
        });
    }
    Ok(out)
}

/// The leaf certificate, parsed and as DER.
pub(super) struct Leaf {
    der: Vec<u8>,
    cert: Certificate,
}

impl Leaf {
    fn from_der(der: Vec<u8>) -> Result<Leaf, String> {
        let cert = Certificate::from_der(&der)
            .map_err(|e| format!("its certificate is not X.509: {e}"))?;
        Ok(Leaf { der, cert })
    }

    /// Whether the certificate's key verified `signature` over `message`.
    fn verify(&self, signature: &[u8], message: &[u8]) -> Result<(), String> {
        let spki = self
            .cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| e.to_string())?;
        let key = CosignVerificationKey::try_from_der(&spki)
            .map_err(|e| format!("its certificate's key is not usable: {e}"))?;
        key.verify_signature(Signature::Raw(signature), message)
            .map_err(|_| "its signature does not verify with its certificate's key".to_owned())
    }
}

/// The DER of a PEM certificate.
fn pem_der(pem: &[u8]) -> Option<Vec<u8>> {
    match x509_cert::der::pem::decode_vec(pem) {
        Ok(("CERTIFICATE", der)) => Some(der),
        _ => None,
    }
}

/// What the carrier checked on its own (the entry is about this signature, the leaf's key
/// verified it, the signed content names this digest): `Err` says what failed.
type Content = Result<(), String>;

fn unverified(identity: Option<Identity>, reason: String) -> SignatureFact {
    SignatureFact {
        verified: false,
        key: None,
        identity,
        reason: Some(reason),
    }
}

/// The fact for a keyless signature by `leaf`, logged as `entry`, whose carrier found
/// `content`: verified under the first root that vouches for the entry and the chain and trusts
/// the certificate's identity.
fn judge(roots: &[Root], leaf: &Leaf, entry: &Entry, content: Content) -> SignatureFact {
    if roots.is_empty() {
        return unverified(
            None,
            "a keyless signature, and the environment's trust lists no keyless signer".into(),
        );
    }
    let claimed = identity_of(&leaf.cert);
    let mut first_error = None;
    let mut mismatch = None;
    // The certificate's identity is shown on an unverified fact only when a trusted CA issued
    // it: anyone can write any SAN into a certificate of their own.
    let mut certified = false;
    for root in roots {
        let logged = tlog::verify(&root.root, entry);
        let chained = chain(&root.root, &leaf.der, entry.integrated_time);
        certified |= chained.is_ok();
        let checked = logged.and(chained).and_then(|()| content.clone());
        if let Err(why) = checked {
            first_error.get_or_insert(why);
            continue;
        }
        let Some(claimed) = &claimed else {
            first_error.get_or_insert("its certificate names no OIDC issuer or subject".into());
            continue;
        };
        if root.identities.contains(claimed) {
            return SignatureFact {
                verified: true,
                key: None,
                identity: Some(claimed.clone()),
                reason: None,
            };
        }
        let trusted: Vec<String> = root.identities.iter().map(Identity::to_string).collect();
        mismatch.get_or_insert(format!(
            "signed by subject {} (issuer {}), not a trusted identity ({})",
            claimed.subject,
            claimed.issuer,
            trusted.join("; ")
        ));
    }
    let claimed = claimed.filter(|_| certified);
    unverified(claimed, mismatch.or(first_error).unwrap_or_default())
}

/// The leaf chains to a certificate authority of `root` valid at `time` (Unix seconds), every
/// certificate of the path valid at `time`.
fn chain(root: &TrustedRoot, leaf: &[u8], time: i64) -> Result<(), String> {
    let leaf_der = CertificateDer::from(leaf);
    let ee = webpki::EndEntityCert::try_from(&leaf_der)
        .map_err(|e| format!("its certificate is not usable: {e}"))?;
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        u64::try_from(time).unwrap_or_default(),
    ));
    let mut last = format!(
        "its certificate was not issued by a certificate authority of {} valid at the signing time",
        root.path
    );
    for ca in root.authorities.iter().filter(|a| a.valid.contains(time)) {
        let Some((anchor, intermediates)) = ca.chain.split_last() else {
            continue;
        };
        let anchor_der = CertificateDer::from(anchor.as_slice());
        let Ok(anchor) = webpki::anchor_from_trusted_cert(&anchor_der) else {
            continue;
        };
        let intermediates: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .map(|c| CertificateDer::from(c.as_slice()))
            .collect();
        match ee.verify_for_usage(
            ALGORITHMS,
            &[anchor],
            &intermediates,
            at,
            webpki::KeyUsage::required(CODE_SIGNING),
            None,
            None,
        ) {
            Ok(_) => return Ok(()),
            Err(e) => {
                last = format!(
                    "its certificate does not chain to a certificate authority of {} at the signing time ({e})",
                    root.path
                );
            }
        }
    }
    Err(last)
}

static ALGORITHMS: &[&dyn rustls_pki_types::SignatureVerificationAlgorithm] = &[
    webpki::aws_lc_rs::ECDSA_P256_SHA256,
    webpki::aws_lc_rs::ECDSA_P256_SHA384,
    webpki::aws_lc_rs::ECDSA_P384_SHA256,
    webpki::aws_lc_rs::ECDSA_P384_SHA384,
    webpki::aws_lc_rs::ECDSA_P521_SHA512,
    webpki::aws_lc_rs::ED25519,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA256,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA384,
    webpki::aws_lc_rs::RSA_PKCS1_2048_8192_SHA512,
];

/// The certificate's OIDC identity: its first URI, email or Fulcio username SAN, and Fulcio's
/// issuer extension.
fn identity_of(cert: &Certificate) -> Option<Identity> {
    let tbs = cert.tbs_certificate();
    let subject = tbs
        .get_extension::<SubjectAltName>()
        .ok()
        .flatten()
        .and_then(|(_, san)| {
            san.0.into_iter().find_map(|n| match n {
                GeneralName::UniformResourceIdentifier(u) => Some(u.to_string()),
                GeneralName::Rfc822Name(e) => Some(e.to_string()),
                // Fulcio's username identities: an otherName of type .1.7, a UTF8String.
                GeneralName::OtherName(o) if o.type_id == USERNAME => {
                    o.value.to_der().ok().and_then(|der| {
                        Utf8StringRef::from_der(&der)
                            .ok()
                            .map(|s| s.as_str().to_owned())
                    })
                }
                _ => None,
            })
        })?;
    let extension = |oid: ObjectIdentifier| {
        tbs.extensions()?
            .iter()
            .find(|e| e.extn_id == oid)
            .map(|e| e.extn_value.as_bytes().to_vec())
    };
    let issuer = extension(ISSUER_V2)
        .and_then(|v| {
            Utf8StringRef::from_der(&v)
                .ok()
                .map(|s| s.as_str().to_owned())
        })
        .or_else(|| extension(ISSUER_V1).and_then(|v| String::from_utf8(v).ok()))?;
    Some(Identity { issuer, subject })
}

/// Test support: the roots trusting `(issuer, subject)` under `root_json` (the fixtures made by
/// `tests/keyless-signer`, see testdata/keyless/README.md), and the fixtures' identity.
#[cfg(test)]
mod fixture {
    use promote_core::supply_chain::{Identity, KeylessSigner, KeylessTrust};

    pub(super) const SUBJECT: &str =
        "https://github.com/acme/shop/.github/workflows/release.yml@refs/heads/main";
    pub(super) const ISSUER: &str = "https://token.actions.githubusercontent.com";

    pub(super) fn trust(issuer: &str, subject: &str, root_json: &str) -> Vec<super::Root> {
        super::roots(&[KeylessTrust {
            signer: KeylessSigner {
                identity: Identity {
                    issuer: issuer.into(),
                    subject: subject.into(),
                },
                trusted_root: "keys/trusted_root.json".into(),
            },
            root_json: root_json.as_bytes().to_vec(),
        }])
        .unwrap()
    }
}
