//! The test-hooks side of a kill test: a binary built with `--features test-hooks` stops at the
//! pause point named in `KUBECTL_PROMOTE_TEST_PAUSE` and reports it by writing the point's name to
//! `KUBECTL_PROMOTE_TEST_PAUSE_FILE`; the test then SIGKILLs it there. One implementation, so
//! every fault test waits, reports and kills the same way.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `cmd` paused at `point` (the marker file is `marker`), waits up to `within` until it
/// stands there, and SIGKILLs it. Panics, with the process's stderr, if it ends before.
pub fn kill_at(mut cmd: Command, marker: &Path, point: &str, within: Duration) {
    let what = format!("{:?}", cmd.get_args().collect::<Vec<_>>());
    let mut child = cmd
        .env("KUBECTL_PROMOTE_TEST_PAUSE", point)
        .env("KUBECTL_PROMOTE_TEST_PAUSE_FILE", marker)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the binary");
    let deadline = Instant::now() + within;
    while !marker.exists() {
        if child.try_wait().unwrap().is_some() {
            let out = child.wait_with_output().unwrap();
            panic!(
                "{what} ended ({}) before reaching {point}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not reach {point} within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(std::fs::read_to_string(marker).unwrap().starts_with(point));
    child.kill().expect("SIGKILL");
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "killed, not finished"
    );
}
