//! The machine's own Argon2id ceiling: one hashing thread per core, in this process, with the server's default
//! parameters (m = 19456 KiB, t = 2, p = 1). Logins cannot go faster than this.

use argon2::{Algorithm, Argon2, Params, Version};
use std::time::{Duration, Instant};

pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;

pub struct RawOutcome {
    pub threads: usize,
    pub hashes: u64,
    pub measured: Duration,
    /// CPU time of this process during the measured window (the hashing threads, nearly all of it).
    pub cpu: Duration,
    /// Percent of CPU time stolen by the hypervisor during the window (the mean, once merged).
    pub steal: f64,
    /// Sorted per-hash times.
    times: Vec<Duration>,
}

impl RawOutcome {
    pub fn per_second(&self) -> f64 {
        self.hashes as f64 / self.measured.as_secs_f64()
    }

    /// Both measurements as one: hashes and measured time add up.
    pub fn merge(mut self, other: RawOutcome) -> RawOutcome {
        self.hashes += other.hashes;
        self.steal = (self.steal * self.measured.as_secs_f64() + other.steal * other.measured.as_secs_f64())
            / (self.measured + other.measured).as_secs_f64();
        self.measured += other.measured;
        self.cpu += other.cpu;
        self.times.extend(other.times);
        self.times.sort_unstable();
        self
    }

    pub fn cpu_per_hash(&self) -> Duration {
        self.cpu.checked_div(self.hashes.max(1) as u32).unwrap_or_default()
    }

    pub fn median(&self) -> Duration {
        self.percentile(50.0)
    }

    pub fn percentile(&self, p: f64) -> Duration {
        if self.times.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.times.len() as f64).ceil() as usize;
        self.times[rank.clamp(1, self.times.len()) - 1]
    }
}

/// Hashes on `threads` threads for `warmup + measure`, counting the hashes finished inside the measured window.
pub fn run(threads: usize, warmup: Duration, measure: Duration) -> anyhow::Result<RawOutcome> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, Some(32))
        .map_err(|e| anyhow::anyhow!("Argon2 parameters: {e}"))?;
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + measure;
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let params = params.clone();
            std::thread::spawn(move || -> anyhow::Result<Vec<Duration>> {
                let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
                let salt = [i as u8; 16];
                let mut out = [0u8; 32];
                let mut times = Vec::new();
                while Instant::now() < end {
                    let begun = Instant::now();
                    argon2
                        .hash_password_into(b"SecureP@ss123", &salt, &mut out)
                        .map_err(|e| anyhow::anyhow!("hashing: {e}"))?;
                    let done = Instant::now();
                    if done >= measure_from && done <= end {
                        times.push(done - begun);
                    }
                }
                std::hint::black_box(&out);
                Ok(times)
            })
        })
        .collect();
    std::thread::sleep(measure_from.saturating_duration_since(Instant::now()));
    let cpu_before = crate::server::cpu_time_of("self")?;
    let host_before = crate::server::host_ticks()?;
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
    let cpu = crate::server::cpu_time_of("self")?.saturating_sub(cpu_before);
    let (_, steal) = crate::server::host_usage(host_before, crate::server::host_ticks()?);
    let mut times = Vec::new();
    for handle in handles {
        times.extend(handle.join().map_err(|_| anyhow::anyhow!("a hashing thread panicked"))??);
    }
    times.sort_unstable();
    Ok(RawOutcome { threads, hashes: times.len() as u64, measured: measure, cpu, steal, times })
}
