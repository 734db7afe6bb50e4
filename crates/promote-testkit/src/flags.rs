//! The command line of the stand-in binaries (`promote-standin`, `kubelet`): `--flag VALUE` or
//! `--flag=VALUE` pairs, every flag taking a value, `-h`/`--help` answered with the usage.

/// The `(flag, value)` pairs of `args` in order; `Err` is the message to print (the usage for
/// `--help`, or what is wrong followed by the usage) before exiting with status 2.
pub fn pairs(
    args: impl IntoIterator<Item = String>,
    usage: &str,
) -> Result<Vec<(String, String)>, String> {
    let mut args = args.into_iter();
    let mut out = Vec::new();
    while let Some(flag) = args.next() {
        let (flag, inline) = match flag.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (flag, None),
        };
        if flag == "-h" || flag == "--help" {
            return Err(usage.to_owned());
        }
        let value = inline
            .or_else(|| args.next())
            .ok_or_else(|| format!("{flag} needs a value\n{usage}"))?;
        out.push((flag, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn flags_take_their_value_inline_or_next() {
        assert_eq!(
            pairs(args(&["--a", "1", "--b=x=y"]), "usage").unwrap(),
            [("--a".into(), "1".into()), ("--b".into(), "x=y".into())]
        );
        assert_eq!(
            pairs(args(&["--a"]), "usage").unwrap_err(),
            "--a needs a value\nusage"
        );
        assert_eq!(
            pairs(args(&["--a", "1", "-h"]), "usage").unwrap_err(),
            "usage"
        );
    }
}
