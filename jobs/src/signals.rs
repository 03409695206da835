//! The stop signals both binaries obey, SIGTERM and SIGINT, caught from the moment
//! [`Signals::install`] is called. A handler installed lazily, at the first poll of a shutdown
//! future, leaves a window after the process answers its first request in which a SIGTERM kills
//! it uncaught (seen under load: the API died of signal 15 after answering `/readyz`).

/// SIGTERM and SIGINT, caught from [`Signals::install`] on.
pub struct Signals {
    #[cfg(unix)]
    handlers: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    /// Installs the handlers now. Where they cannot be installed, [`Signals::next`] falls back
    /// to Ctrl-C.
    pub fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let handlers = signal(SignalKind::terminate())
                .and_then(|term| Ok((term, signal(SignalKind::interrupt())?)))
                .ok();
            Self { handlers }
        }
        #[cfg(not(unix))]
        Self {}
    }

    /// The next SIGTERM or SIGINT (one received since [`Signals::install`] counts).
    pub async fn next(&mut self) {
        #[cfg(unix)]
        if let Some((term, interrupt)) = &mut self.handlers {
            tokio::select! {
                _ = term.recv() => {},
                _ = interrupt.recv() => {},
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
