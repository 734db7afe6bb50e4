//! Small readers of JSON documents, shared by the modules that read Argo CD's documents.

use serde_json::Value;

use super::time::Timestamp;

pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

pub(crate) fn time_at(v: &Value, path: &[&str]) -> Option<Timestamp> {
    str_at(v, path).and_then(Timestamp::parse)
}

pub(crate) fn non_null(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

/// The strings of the array at `pointer` (JSON pointer); none when absent, non-strings skipped.
pub(crate) fn strings_at(v: &Value, pointer: &str) -> Vec<String> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}
