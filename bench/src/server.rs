//! The server under test: a real `zauthy serve` child process on a free loopback port.

use anyhow::{Context, bail};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// Rate limits high enough never to cap the load (the config fields are u32, per minute or hour).
const UNLIMITED: &str = "1000000000";

pub struct Server {
    pub addr: SocketAddr,
    child: Child,
    log: PathBuf,
}

/// A port nothing listens on right now.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Server {
    /// Spawns the server and waits for its first `200` from `/health`, polling every millisecond. Returns the
    /// server and the spawn-to-healthy time.
    pub async fn start(
        binary: &Path,
        data_dir: &Path,
        database_url: Option<&str>,
        extra_env: &[(String, String)],
        name: &str,
    ) -> anyhow::Result<(Server, Duration)> {
        std::fs::create_dir_all(data_dir)?;
        let port = free_port()?;
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        let log = data_dir.join(format!("{name}.log"));
        let log_file = std::fs::File::create(&log)?;
        let mut command = Command::new(binary);
        // The server refuses unknown ZAUTHY_* settings, and inherited ones would change what is measured.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("ZAUTHY_") {
                command.env_remove(name);
            }
        }
        command
            .arg("serve")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--public-url")
            .arg(format!("http://localhost:{port}"))
            .arg("--data-dir")
            .arg(data_dir)
            .env("ZAUTHY_LOG_LEVEL", "warn")
            .env("ZAUTHY_RATE_LIMITS__FREE__AUTH", UNLIMITED)
            .env("ZAUTHY_RATE_LIMITS__FREE__GENERAL", UNLIMITED)
            .env("ZAUTHY_RATE_LIMITS__FREE__KYC", UNLIMITED)
            .env("ZAUTHY_RATE_LIMITS__UNAUTHENTICATED_PER_IP", UNLIMITED)
            .env("ZAUTHY_RATE_LIMITS__ORG_CREATE_PER_IP_PER_HOUR", UNLIMITED)
            .env_remove("RUST_LOG")
            .current_dir(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .kill_on_drop(true);
        if let Some(url) = database_url {
            command.env("ZAUTHY_DATABASE_URL", url);
        }
        command.envs(extra_env.iter().map(|(k, v)| (k, v)));
        let started = Instant::now();
        let child = command.spawn().with_context(|| format!("starting {}", binary.display()))?;
        let mut server = Server { addr, child, log };
        let deadline = started + Duration::from_secs(30);
        loop {
            if health_ok(addr).await {
                return Ok((server, started.elapsed()));
            }
            if let Some(status) = server.child.try_wait()? {
                bail!("the server exited with {status} before it was healthy:\n{}", server.log_text());
            }
            if Instant::now() > deadline {
                bail!("the server was not healthy after 30 s:\n{}", server.log_text());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the server has exited")
    }

    /// Resident set size in bytes, from `/proc/<pid>/status`.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?))?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("no VmRSS in /proc status")?;
        let kib: u64 = line.split_whitespace().nth(1).context("malformed VmRSS")?.parse()?;
        Ok(kib * 1024)
    }

    /// User + system CPU time of the whole server process so far.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        cpu_time_of(&self.pid()?.to_string())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM (graceful: SQLite checkpoints, connections close), then SIGKILL after 10 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().await;
            if tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.is_ok() {
                return Ok(());
            }
        }
        self.child.kill().await?;
        Ok(())
    }
}

/// One `GET /health` on a fresh connection; true on a `200`.
async fn health_ok(addr: SocketAddr) -> bool {
    let attempt = async {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        stream.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        Some(&head == b"HTTP/1.1 200")
    };
    tokio::time::timeout(Duration::from_secs(5), attempt).await.ok().flatten().unwrap_or(false)
}

/// User + system CPU time of a process (all its threads), from `/proc/<pid>/stat`; `pid` may be `self`.
pub fn cpu_time_of(pid: &str) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may contain spaces; the fields after its closing parenthesis are fixed.
    let fields: Vec<&str> = stat.rsplit_once(')').context("malformed /proc stat")?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, i.e. 12 and 13 after the name.
    let ticks: u64 =
        fields.get(11).context("no utime")?.parse::<u64>()? + fields.get(12).context("no stime")?.parse::<u64>()?;
    Ok(Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second()))
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Cumulative CPU ticks of the whole machine, from the first line of `/proc/stat`.
#[derive(Debug, Clone, Copy)]
pub struct HostTicks {
    idle: u64,
    steal: u64,
    total: u64,
}

pub fn host_ticks() -> anyhow::Result<HostTicks> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    // user nice system idle iowait irq softirq steal
    let t: Vec<u64> = line.split_whitespace().skip(1).take(8).map(str::parse).collect::<Result<_, _>>()?;
    let at = |i: usize| t.get(i).copied().unwrap_or(0);
    Ok(HostTicks { idle: at(3) + at(4), steal: at(7), total: t.iter().sum() })
}

/// Between two samples, in percent of all CPU time: (busy in this guest, stolen by the hypervisor).
pub fn host_usage(before: HostTicks, after: HostTicks) -> (f64, f64) {
    let total = after.total.saturating_sub(before.total);
    if total == 0 {
        return (0.0, 0.0);
    }
    let steal = after.steal.saturating_sub(before.steal);
    let idle = after.idle.saturating_sub(before.idle);
    let pct = |n: u64| n as f64 * 100.0 / total as f64;
    (pct(total.saturating_sub(idle + steal)), pct(steal))
}
