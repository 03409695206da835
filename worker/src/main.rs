//! `veza-worker`: runs every queue until SIGINT/SIGTERM, then drains.

use veza_jobs::signals::Signals;
use veza_worker::{config::WorkerConfig, startup};

/// jemalloc, not glibc's malloc, for Rust and (through the crate's override feature) for the C
/// libraries too: a chunk's encoders and FFmpeg's decoder allocate hundreds of MiB on threads
/// that live as long as the chunk, and glibc kept those threads' arenas, so RSS grew chunk after
/// chunk. jemalloc's background thread (on by the crate's `background_threads` feature) gives the
/// pages a finished chunk freed back to the system (docs/video.md, "Memory").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let config = WorkerConfig::load()
        .map_err(|problems| anyhow::anyhow!("invalid configuration:\n  {}", problems.join("\n  ")))?;
    startup::run_until_stopped(config, shutdown_signal()).await?;
    tracing::info!("veza-worker stopped");
    Ok(())
}

/// Resolves on the first SIGINT or SIGTERM; a second one exits at once (the jobs still running
/// are rescued by other workers once this one's heartbeat stops). The handlers are installed
/// when this is called, before the worker connects, so no early signal kills it uncaught.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    let mut signals = Signals::install();
    async move {
        signals.next().await;
        tracing::info!("shutdown signal received: no new claims; waiting for running jobs");
        tokio::spawn(async move {
            signals.next().await;
            tracing::warn!("second signal: exiting now");
            std::process::exit(130);
        });
    }
}
