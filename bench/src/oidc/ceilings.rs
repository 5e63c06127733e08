//! What this machine allows at most, measured in the same run as the OIDC scenarios, so that a 3× target can
//! be read against it:
//!
//! - **HTTP ceiling**: `GET /health` on the same zauthy server, with the same load generator and connections.
//!   No OIDC endpoint can answer faster than the server answers a request that does nothing.
//! - **RS256 ceiling**: RSA-2048 PKCS#1 v1.5 SHA-256 signatures per second in this process, one thread per core,
//!   with aws-lc-rs (the library zauthy signs with). Every code exchange signs one RS256 ID token, on both
//!   sides, so no code exchange rate can pass this, even with nothing else running.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use std::time::{Duration, Instant};

/// RSA-2048 signatures per second on `threads` threads over `measure` (after `warmup`).
pub fn rs256_signatures_per_second(threads: usize, warmup: Duration, measure: Duration) -> anyhow::Result<f64> {
    let pair = std::sync::Arc::new(
        KeyPair::generate(KeySize::Rsa2048).map_err(|_| anyhow::anyhow!("RSA key generation failed"))?,
    );
    let start = Instant::now();
    let (from, end) = (start + warmup, start + warmup + measure);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let pair = pair.clone();
            std::thread::spawn(move || -> anyhow::Result<u64> {
                let rng = SystemRandom::new();
                let mut sig = vec![0u8; pair.public_modulus_len()];
                // A JWT signing input of an ID token's size.
                let message = [b'a'; 600];
                let mut signed = 0;
                while Instant::now() < end {
                    pair.sign(&RSA_PKCS1_SHA256, &rng, &message, &mut sig)
                        .map_err(|_| anyhow::anyhow!("RSA signing failed"))?;
                    let now = Instant::now();
                    if now >= from && now <= end {
                        signed += 1;
                    }
                }
                std::hint::black_box(&sig);
                Ok(signed)
            })
        })
        .collect();
    let mut total = 0;
    for handle in handles {
        total += handle.join().map_err(|_| anyhow::anyhow!("a signing thread panicked"))??;
    }
    Ok(total as f64 / measure.as_secs_f64())
}
