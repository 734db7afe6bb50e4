//! Ctrl-C, `kill` and a closed terminal: from the first scratch directory on, SIGINT, SIGTERM
//! and SIGHUP end the process as they would by default (exit status 128 + the signal: 130, 143,
//! 129), but first remove the scratch directories still alive
//! ([`promote::scratch::remove_all`]), which no destructor would remove. Only the signals'
//! default action changes: what the process does until then is not interrupted, and child
//! processes (git, kustomize) start with the default handlers again.

/// Install the handler (a thread that waits for the signals); `main` has it run before the first
/// scratch directory is made. A failure to install it is not worth failing the command for:
/// without it the signals act as they always did.
pub fn install() {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
            return;
        };
        let _ = std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    let _held = ::promote::scratch::remove_all();
                    std::process::exit(128 + signal);
                }
            });
    }
}
