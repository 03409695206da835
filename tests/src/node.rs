//! Scripts the tests drive (the browser player, the SDKs' clients, the tus clients; Node.js and
//! Python): install their packages, run one bounded in time, and read the JSON report it prints.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

/// Runs `node SCRIPT ARGS…` in `dir` and waits at most `within`; returns its exit status,
/// standard output and standard error. Panics when node is missing or the script overruns.
pub async fn run(dir: &Path, script_and_args: &[&str], within: Duration) -> std::process::Output {
    run_program("node", dir, script_and_args, &[], within).await
}

/// Runs `program ARGS…` in `dir` with `env` added (at most two minutes), asserts it succeeded
/// and returns the JSON its last line of output is.
pub async fn report(program: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> serde_json::Value {
    let output = run_program(program, dir, args, env, Duration::from_secs(120)).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|err| panic!("{err}: {stdout}"))
}

async fn run_program(
    program: &str,
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    within: Duration,
) -> std::process::Output {
    let script_and_args = args;
    let child = tokio::process::Command::new(program)
        .args(script_and_args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|err| panic!("{program} must be installed: {err}"));
    tokio::time::timeout(within, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{script_and_args:?} did not finish within {within:?}"))
        .unwrap()
}

/// Runs `program` (on the PATH, or a path inside `dir` such as `node_modules/.bin/tsc`) in `dir`
/// and panics with its output when it fails.
pub fn run_checked(dir: &Path, program: &str, args: &[&str]) {
    let program_path = if program.contains('/') {
        dir.join(program)
    } else {
        PathBuf::from(program)
    };
    let output = Command::new(program_path)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|err| panic!("{program} (Node.js and npm must be installed): {err}"));
    assert!(
        output.status.success(),
        "{program} {args:?} in {} failed:\n{}{}",
        dir.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `npm ci` in `dir`: its packages exactly as its lock file pins them. Once per folder per test
/// process: tests run in parallel, and two `npm ci` in one folder collide (each empties
/// `node_modules` first; CI saw one fail with ENOENT from a fresh clone).
pub fn npm_ci(dir: &Path) {
    static INSTALLED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let mut installed = INSTALLED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if installed.iter().any(|done| done == dir) {
        return;
    }
    run_checked(dir, "npm", &["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
    installed.push(dir.to_path_buf());
}
