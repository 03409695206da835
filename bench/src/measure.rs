//! Wall and CPU time of a run, of this process or of a child, and the machine's load.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::bail;
use nix::sys::resource::{UsageWho, getrusage};

/// One timed measurement: wall time and CPU time (user + system).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub wall: Duration,
    pub cpu: Duration,
}

/// The run with the median wall time (`timings` must not be empty).
pub fn median(timings: &mut [Timing]) -> Timing {
    timings.sort_by_key(|t| t.wall);
    timings[timings.len() / 2]
}

/// Every run's wall time in seconds, space-separated, in the order given.
pub fn list(timings: &[Timing]) -> String {
    timings
        .iter()
        .map(|t| format!("{:.2}", t.wall.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` to completion; returns its wall and CPU time and what it printed.
pub fn run_measured(cmd: &mut Command) -> anyhow::Result<(Timing, String)> {
    // Children's usage counts once they are reaped, so the difference is this child's alone.
    let cpu_before = cpu_time(UsageWho::RUSAGE_CHILDREN);
    let started = Instant::now();
    let output = cmd.stdin(Stdio::null()).stderr(Stdio::inherit()).output()?;
    let wall = started.elapsed();
    let cpu = cpu_time(UsageWho::RUSAGE_CHILDREN) - cpu_before;
    if !output.status.success() {
        bail!("{cmd:?} failed: {}", output.status);
    }
    Ok((
        Timing { wall, cpu },
        String::from_utf8_lossy(&output.stdout).into_owned(),
    ))
}

/// User plus system CPU time of this process, or of its reaped children.
pub fn cpu_time(who: UsageWho) -> Duration {
    let usage = getrusage(who).expect("getrusage cannot fail for these arguments");
    let time = |tv: nix::sys::time::TimeVal| {
        Duration::from_secs(u64::try_from(tv.tv_sec()).unwrap_or(0))
            + Duration::from_micros(u64::try_from(tv.tv_usec()).unwrap_or(0))
    };
    time(usage.user_time()) + time(usage.system_time())
}

/// User plus system CPU time another running process has used so far (`/proc/PID/stat`).
pub fn process_cpu_time(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at state, field 3;
    // utime and stime are fields 14 and 15, in clock ticks.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // Linux reports these in USER_HZ, 100 on every architecture it supports.
    let ticks_per_second = 100;
    let total = ticks(11) + ticks(12);
    Ok(Duration::from_millis(total * 1000 / ticks_per_second))
}

/// The 1-, 5- and 15-minute load averages, as `/proc/loadavg` prints them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// A running process's resident set (`VmRSS`) and its peak (`VmHWM`), in KiB.
pub fn resident_kib(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
    };
    match (field("VmRSS:"), field("VmHWM:")) {
        (Some(rss), Some(hwm)) => Ok((rss, hwm)),
        _ => bail!("no VmRSS/VmHWM in /proc/{pid}/status"),
    }
}

/// The machine's CPU ticks so far: (busy, total) over every core (`/proc/stat`); the share of
/// busy between two readings is how loaded the whole machine was.
pub fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let values: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().sum();
    // idle and iowait are fields 4 and 5.
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    (total - idle, total)
}
