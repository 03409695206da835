//! Node.js scripts the tests drive (the browser player, the TypeScript SDK's client): run one,
//! bounded in time, and read the JSON report it prints.

use std::{path::Path, process::Stdio, time::Duration};

/// Runs `node SCRIPT ARGS…` in `dir` and waits at most `within`; returns its exit status,
/// standard output and standard error. Panics when node is missing or the script overruns.
pub async fn run(dir: &Path, script_and_args: &[&str], within: Duration) -> std::process::Output {
    let child = tokio::process::Command::new("node")
        .args(script_and_args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node (Node.js) must be installed");
    tokio::time::timeout(within, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{script_and_args:?} did not finish within {within:?}"))
        .unwrap()
}
