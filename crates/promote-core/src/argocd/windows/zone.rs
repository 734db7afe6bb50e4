//! Time zone names as Go's `time.LoadLocation` reads them for Argo CD: `""` and `UTC` are UTC,
//! `Local` is the Argo CD server's own zone, anything else an IANA name looked up in the time
//! zone database. The database is the system's (`/usr/share/zoneinfo`, as Argo CD's images use),
//! else the copy built into this binary.

use jiff::tz::TimeZone;

/// A name that names no zone this tool can evaluate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum ZoneError {
    /// `Local`: the Argo CD server's own zone, which a client cannot know.
    Local,
    /// Not in the time zone database (Go's lookup is case-sensitive, so is this one).
    Unknown(String),
}

impl ZoneError {
    /// What is wrong with the name, for messages.
    pub(super) fn describe(&self) -> String {
        match self {
            ZoneError::Local => "time zone Local is the Argo CD server's own zone, which kubectl promote cannot know; name an IANA zone such as Europe/Berlin".to_owned(),
            ZoneError::Unknown(name) => format!("{name:?} is not a time zone in the IANA database"),
        }
    }
}

/// The zone `name` names.
pub(super) fn load(name: &str) -> Result<TimeZone, ZoneError> {
    match name {
        "" | "UTC" => Ok(TimeZone::UTC),
        "Local" => Err(ZoneError::Local),
        // Go refuses paths outright; the database lookup would too, but say it plainly.
        _ if name.contains("..") || name.starts_with(['/', '\\']) => {
            Err(ZoneError::Unknown(name.to_owned()))
        }
        _ => match jiff::tz::db().get(name) {
            // jiff's lookup ignores case; Go's reads a file by that exact name.
            Ok(tz) if tz.iana_name() == Some(name) => Ok(tz),
            _ => Err(ZoneError::Unknown(name.to_owned())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_go_loads_them() {
        assert_eq!(load("").unwrap(), TimeZone::UTC);
        assert_eq!(load("UTC").unwrap(), TimeZone::UTC);
        assert_eq!(
            load("Europe/Berlin").unwrap().iana_name(),
            Some("Europe/Berlin")
        );
        assert_eq!(load("Local"), Err(ZoneError::Local));
        for unknown in [
            "europe/berlin",
            "Mars/Base",
            "../etc/passwd",
            "/etc/localtime",
        ] {
            assert_eq!(
                load(unknown),
                Err(ZoneError::Unknown(unknown.to_owned())),
                "{unknown}"
            );
        }
    }
}
