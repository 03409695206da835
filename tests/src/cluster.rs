//! A private Postgres cluster for tests that need to stop or restart the server itself: created
//! with the system's `initdb` in a temporary folder, run with `pg_ctl` on a free loopback port
//! (trust authentication, socket in `/tmp`), stopped when dropped.
//!
//! Postgres refuses to run as root; when the tests run as root (containers, CI), every
//! `initdb`/`pg_ctl` runs as the `postgres` user through `runuser`, on a folder that user owns.

use std::{
    path::PathBuf,
    process::{Command, Output},
    time::Instant,
};

use crate::servers::free_port;

/// A running Postgres server of its own.
pub struct PgCluster {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    bin_dir: Option<PathBuf>,
    as_postgres: bool,
    dir: tempfile::TempDir,
}

impl PgCluster {
    /// `initdb` into a fresh folder, then start the server and wait until it accepts connections.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let as_postgres = running_as_root();
        if as_postgres {
            let mut chown = Command::new("chown");
            chown.arg("postgres:postgres").arg(dir.path());
            run(chown).await;
        }
        let cluster = Self {
            port: free_port(),
            bin_dir: postgres_bin_dir(),
            as_postgres,
            dir,
        };
        let started = Instant::now();
        let mut initdb = cluster.pg("initdb");
        initdb.arg("-D").arg(cluster.data_dir()).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(initdb).await;
        cluster.start_server().await;
        println!(
            "private Postgres on 127.0.0.1:{} ({}) ready in {:.1} s",
            cluster.port,
            cluster.dir.path().display(),
            started.elapsed().as_secs_f64()
        );
        cluster
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`: the admin database, for
    /// [`crate::TestDatabase::create_on`] and [`crate::platform::Platform::start_with_env`].
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server (`pg_ctl stop -m fast`: open connections are closed, running
    /// transactions rolled back) and waits until it is down.
    pub async fn stop(&self) {
        let mut stop = self.pg("pg_ctl");
        stop.arg("-D")
            .arg(self.data_dir())
            .args(["-m", "fast", "-w", "-t", "60", "stop"]);
        run(stop).await;
    }

    /// Starts the stopped server again on the same port and waits until it accepts connections.
    pub async fn start_again(&self) {
        self.start_server().await;
    }

    /// Stops the server (fast) and starts it again.
    pub async fn restart(&self) {
        self.stop().await;
        self.start_again().await;
    }

    /// The server's log so far (its stderr), for failure reports.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    async fn start_server(&self) {
        let options = format!("-c listen_addresses=127.0.0.1 -c port={} -k /tmp", self.port);
        let mut start = self.pg("pg_ctl");
        start
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.log_file())
            .args(["-o", &options, "-w", "-t", "60", "start"]);
        // pg_ctl leaves the server running with our pipes closed (its output goes to the log).
        let output = tokio::process::Command::from(start).output().await.unwrap();
        assert!(
            output.status.success(),
            "pg_ctl start failed: {}\n--- server log ---\n{}",
            describe(&output),
            self.log()
        );
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// A command running Postgres program `name`, as `postgres` when we are root, from a folder
    /// that user may enter.
    fn pg(&self, name: &str) -> Command {
        let program = self
            .bin_dir
            .as_ref()
            .map_or_else(|| PathBuf::from(name), |dir| dir.join(name));
        let mut cmd = if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        };
        cmd.current_dir(self.dir.path());
        cmd
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .pg("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "-t", "30", "stop"])
            .output();
    }
}

/// Whether this process runs as root (`id -u` is 0).
fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Where `initdb` and `pg_ctl` are: `VEZA_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin` (Debian keeps them off `PATH`), else `PATH`.
fn postgres_bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("VEZA_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

async fn run(cmd: Command) {
    let mut cmd = tokio::process::Command::from(cmd);
    let output = cmd.output().await.unwrap_or_else(|err| {
        panic!(
            "{err}: running {:?} (Postgres server binaries are needed: apt-get install postgresql)",
            cmd.as_std().get_program()
        )
    });
    assert!(output.status.success(), "{:?} failed: {}", cmd, describe(&output));
}

fn describe(output: &Output) -> String {
    format!(
        "{}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
