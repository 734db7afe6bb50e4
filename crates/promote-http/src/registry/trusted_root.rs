//! A Sigstore trusted root (`trusted_root.json`, protobuf-specs' `TrustedRoot` in its JSON
//! form), read from the repository for keyless verification: the certificate authorities
//! (Fulcio: a chain of certificates, intermediate first and root last, with the period in which
//! it issued) and the transparency logs (Rekor: a public key, its log ID and validity). Parsing
//! only; every error names the file and the field.
//!
//! What is not read: `ctlogs` (certificate-transparency SCTs are not checked: the Rekor entry
//! is the transparency evidence we require) and `timestampAuthorities` (signing time comes from
//! the Rekor entry's integrated time, which its signed entry timestamp covers).

use base64::Engine as _;
use serde_json::Value;
use sigstore::crypto::CosignVerificationKey;

use promote_core::registry::RegistryError;

/// A trusted root is a few KiB (the public-good one with its history is ~10 KiB).
const MAX_ROOT: usize = 1024 * 1024;
/// More authorities or logs than this is not a trust root anyone maintains by hand.
const MAX_ENTRIES: usize = 64;

/// A period in Unix seconds: `start` inclusive, `end` exclusive (none: still current).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Validity {
    pub start: i64,
    pub end: Option<i64>,
}

impl Validity {
    pub fn contains(self, t: i64) -> bool {
        t >= self.start && self.end.is_none_or(|e| t < e)
    }
}

/// A certificate authority: DER certificates, the issuing one first, the root last.
#[derive(Debug)]
pub(super) struct Authority {
    pub chain: Vec<Vec<u8>>,
    pub valid: Validity,
}

/// A transparency log: its ID (the sha256 of its key's DER) and key.
pub(super) struct Log {
    pub id: Vec<u8>,
    pub key_der: Vec<u8>,
    pub key: CosignVerificationKey,
    pub valid: Validity,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("id", &hex::encode(&self.id))
            .field("valid", &self.valid)
            .finish_non_exhaustive()
    }
}

/// A parsed trusted root.
#[derive(Debug)]
pub(super) struct TrustedRoot {
    /// Its repo path, for messages.
    pub path: String,
    pub authorities: Vec<Authority>,
    pub logs: Vec<Log>,
}

/// Parses `json`, the file at `path` (`Err` names the field and says what is wrong).
pub(super) fn parse(path: &str, json: &[u8]) -> Result<TrustedRoot, RegistryError> {
    let err = |field: &str, detail: String| RegistryError::TrustedRoot {
        path: path.to_owned(),
        field: field.to_owned(),
        detail,
    };
    if json.len() > MAX_ROOT {
        return Err(err(
            "(file)",
            format!("it is {} bytes, more than {MAX_ROOT}", json.len()),
        ));
    }
    let doc: Value =
        serde_json::from_slice(json).map_err(|e| err("(file)", format!("it is not JSON: {e}")))?;
    let media_type = doc
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !media_type.starts_with("application/vnd.dev.sigstore.trustedroot") {
        return Err(err(
            "mediaType",
            format!(
                "`{media_type}` is not application/vnd.dev.sigstore.trustedroot+json;version=0.1"
            ),
        ));
    }
    let list = |name: &str| -> Result<&[Value], RegistryError> {
        let items = doc
            .get(name)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if items.len() > MAX_ENTRIES {
            return Err(err(name, format!("more than {MAX_ENTRIES} entries")));
        }
        Ok(items)
    };
    let mut authorities = Vec::new();
    for (i, ca) in list("certificateAuthorities")?.iter().enumerate() {
        authorities.push(
            authority(ca, &format!("certificateAuthorities[{i}]"))
                .map_err(|(field, detail)| err(&field, detail))?,
        );
    }
    let mut logs = Vec::new();
    for (i, tlog) in list("tlogs")?.iter().enumerate() {
        logs.push(
            log(tlog, &format!("tlogs[{i}]")).map_err(|(field, detail)| err(&field, detail))?,
        );
    }
    if authorities.is_empty() {
        return Err(err(
            "certificateAuthorities",
            "no certificate authority: keyless certificates cannot chain to anything".into(),
        ));
    }
    if logs.is_empty() {
        return Err(err(
            "tlogs",
            "no transparency log: keyless signatures cannot be checked against Rekor".into(),
        ));
    }
    Ok(TrustedRoot {
        path: path.to_owned(),
        authorities,
        logs,
    })
}

/// A field's name and what is wrong with it.
type FieldError = (String, String);

fn authority(ca: &Value, at: &str) -> Result<Authority, FieldError> {
    let certs = ca
        .pointer("/certChain/certificates")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty() && c.len() <= 8)
        .ok_or_else(|| {
            (
                format!("{at}.certChain.certificates"),
                "missing, empty or longer than 8".to_owned(),
            )
        })?;
    let chain = certs
        .iter()
        .enumerate()
        .map(|(j, c)| bytes(c, &format!("{at}.certChain.certificates[{j}].rawBytes")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Authority {
        chain,
        valid: validity(ca.get("validFor"), &format!("{at}.validFor"))?,
    })
}

fn log(tlog: &Value, at: &str) -> Result<Log, FieldError> {
    let key = tlog.get("publicKey").unwrap_or(&Value::Null);
    let key_der = bytes(key, &format!("{at}.publicKey.rawBytes"))?;
    let parsed = CosignVerificationKey::try_from_der(&key_der).map_err(|e| {
        (
            format!("{at}.publicKey.rawBytes"),
            format!("not a public key: {e}"),
        )
    })?;
    let id = tlog
        .pointer("/logId/keyId")
        .and_then(Value::as_str)
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .ok_or_else(|| {
            (
                format!("{at}.logId.keyId"),
                "missing or not base64".to_owned(),
            )
        })?;
    Ok(Log {
        id,
        key_der,
        key: parsed,
        valid: validity(key.get("validFor"), &format!("{at}.publicKey.validFor"))?,
    })
}

/// `{"rawBytes": "<base64>"}`'s bytes.
fn bytes(v: &Value, field: &str) -> Result<Vec<u8>, FieldError> {
    v.get("rawBytes")
        .and_then(Value::as_str)
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
        .filter(|b| !b.is_empty())
        .ok_or_else(|| (field.to_owned(), "missing or not base64".to_owned()))
}

/// `{"start": RFC 3339, "end": RFC 3339?}`; a missing start is an error (an authority with no
/// start would be trusted for signatures made before it existed).
fn validity(v: Option<&Value>, at: &str) -> Result<Validity, FieldError> {
    let time = |name: &str| -> Result<Option<i64>, FieldError> {
        let Some(s) = v.and_then(|v| v.get(name)).and_then(Value::as_str) else {
            return Ok(None);
        };
        s.parse::<jiff::Timestamp>()
            .map(|t| Some(t.as_second()))
            .map_err(|e| {
                (
                    format!("{at}.{name}"),
                    format!("`{s}` is not RFC 3339: {e}"),
                )
            })
    };
    let start = time("start")?.ok_or_else(|| (format!("{at}.start"), "missing".to_owned()))?;
    Ok(Validity {
        start,
        end: time("end")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = include_str!("testdata/keyless/trusted_root.json");

    #[test]
    fn the_generated_root_parses() {
        let r = parse("keys/trusted_root.json", ROOT.as_bytes()).unwrap();
        assert_eq!(r.authorities.len(), 1);
        assert_eq!(r.authorities[0].chain.len(), 2);
        assert_eq!(r.authorities[0].valid.end, None);
        assert_eq!(r.logs.len(), 1);
        assert_eq!(r.logs[0].id.len(), 32);
    }

    #[test]
    fn errors_name_the_file_and_field() {
        let mut doc: Value = serde_json::from_str(ROOT).unwrap();
        doc["tlogs"][0]["publicKey"]["rawBytes"] = "bm90IGEga2V5".into();
        let e = parse("keys/root.json", doc.to_string().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("keys/root.json") && e.contains("tlogs[0].publicKey.rawBytes"),
            "{e}"
        );
        doc["tlogs"] = Value::Array(Vec::new());
        let e = parse("r.json", doc.to_string().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("tlogs") && e.contains("no transparency log"),
            "{e}"
        );
        doc["certificateAuthorities"][0]["validFor"]["start"] = "yesterday".into();
        let e = parse("r.json", doc.to_string().as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("certificateAuthorities[0].validFor.start") && e.contains("RFC 3339"),
            "{e}"
        );
        let e = parse("r.json", b"{}").unwrap_err().to_string();
        assert!(e.contains("mediaType"), "{e}");
        let e = parse("r.json", &vec![b' '; MAX_ROOT + 1])
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than"), "{e}");
    }

    #[test]
    fn validity_is_half_open() {
        let v = Validity {
            start: 10,
            end: Some(20),
        };
        assert!(!v.contains(9) && v.contains(10) && v.contains(19) && !v.contains(20));
        assert!(
            Validity {
                start: 10,
                end: None
            }
            .contains(i64::MAX)
        );
    }
}
