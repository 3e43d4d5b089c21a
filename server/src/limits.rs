//! The server's limits, and the two small mechanisms behind some of them: a JSON nesting-depth
//! check that runs before any parser, and a per-client token bucket for uploads.
//!
//! Every limit answers with its own status and a message that names it:
//! - request body larger than [`Limits::max_body_bytes`] → 413;
//! - JSON nested deeper than [`Limits::max_json_depth`] → 400;
//! - the scenario limits of sim-core (threads, VMAs, pages, schedule length, text lengths...)
//!   → 400 with the JSON path;
//! - uploads faster than the per-client rate → 429 with `Retry-After`;
//! - a request body not received within [`Limits::body_timeout`] → 408;
//! - a request not answered within [`Limits::request_timeout`] → 503;
//! - every explorer slot busy for [`Limits::explorer_wait`] → 503 with `Retry-After`;
//! - the explorer's own budget (states, wall time) → not an error: "budget exhausted" is a
//!   verdict.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Every configurable limit, with the defaults the server runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_json_depth: usize,
    pub request_timeout: Duration,
    pub body_timeout: Duration,
    /// Sustained uploads per minute per client; 0 turns rate limiting off.
    pub uploads_per_minute: u32,
    /// Uploads a client may make in a burst.
    pub upload_burst: u32,
    /// Explorer runs at the same time (each on a blocking thread).
    pub explorer_concurrency: usize,
    /// How long an upload waits for an explorer slot. Wait plus run time stay under the
    /// request timeout.
    pub explorer_wait: Duration,
    /// The explorer's budget per upload.
    pub explorer_max_states: u64,
    pub explorer_max_time: Duration,
}

/// 256 KiB, the same as sim-core's limit on scenario JSON.
pub const DEFAULT_MAX_BODY_BYTES: usize = sim_core::scenario::MAX_JSON_BYTES;
pub const DEFAULT_MAX_JSON_DEPTH: usize = 64;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_json_depth: DEFAULT_MAX_JSON_DEPTH,
            request_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(5),
            uploads_per_minute: 30,
            upload_burst: 10,
            // Half the cores: serving must go on while the explorer runs.
            explorer_concurrency: (std::thread::available_parallelism().map_or(1, |n| n.get()) / 2)
                .clamp(1, 4),
            explorer_wait: Duration::from_secs(3),
            // The shipped scenarios need at most ~90k states; most finish in milliseconds
            // (release build), the THP-split ones in ~6 s: they get "budget (time)".
            explorer_max_states: 250_000,
            explorer_max_time: Duration::from_secs(5),
        }
    }
}

/// The nesting depth of JSON text (arrays and objects), counted without parsing it: brackets
/// inside strings do not count. Stops counting as soon as `max` is exceeded, so the cost is
/// one pass over the bytes whatever the input. Malformed JSON is the parser's business.
pub fn json_depth_exceeds(text: &[u8], max: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in text {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Token buckets per client address, in memory (per instance: behind a load balancer each
/// instance limits on its own).
#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    burst: u32,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Past this many tracked clients, full (idle) buckets are forgotten.
const MAX_TRACKED: usize = 10_000;

impl RateLimiter {
    pub fn new(per_minute: u32, burst: u32) -> Self {
        RateLimiter {
            per_minute,
            burst: burst.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take one token for `client`: `Ok(())`, or `Err(wait)` with how long until the next
    /// token.
    pub fn check(&self, client: IpAddr) -> Result<(), Duration> {
        self.check_at(client, Instant::now())
    }

    fn check_at(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let rate = f64::from(self.per_minute) / 60.0; // tokens per second
        let burst = f64::from(self.burst);
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED && !buckets.contains_key(&client) {
            buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * rate < burst
            });
        }
        let b = buckets.entry(client).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.updated = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth() {
        assert!(!json_depth_exceeds(b"{}", 1));
        assert!(json_depth_exceeds(b"[[]]", 1));
        assert!(!json_depth_exceeds(b"[[]]", 2));
        assert!(!json_depth_exceeds(br#"{"a":"[[[[[[","b":"\"[[["}"#, 1));
        assert!(json_depth_exceeds(br#"{"a":"\\","b":[[]]}"#, 2));
        let deep = "[".repeat(100_000);
        assert!(json_depth_exceeds(deep.as_bytes(), 64));
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(!json_depth_exceeds(ok.as_bytes(), 64));
        // Stray closers do not let a later opener run deeper unnoticed.
        assert!(json_depth_exceeds(b"]]]]][[", 1));
    }

    #[test]
    fn token_bucket() {
        let rl = RateLimiter::new(30, 3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(rl.check_at(a, t0), Ok(()));
        }
        let wait = rl.check_at(a, t0).unwrap_err();
        assert!((1.9..=2.1).contains(&wait.as_secs_f64()), "{wait:?}");
        assert_eq!(rl.check_at(b, t0), Ok(()), "other clients are not affected");
        // 30/min = one token every 2 s.
        assert!(rl.check_at(a, t0 + Duration::from_millis(1900)).is_err());
        assert_eq!(rl.check_at(a, t0 + Duration::from_millis(4100)), Ok(()));
        // Refill never exceeds the burst.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(rl.check_at(a, later), Ok(()));
        }
        assert!(rl.check_at(a, later).is_err());
        // Off.
        let off = RateLimiter::new(0, 1);
        for _ in 0..100 {
            assert_eq!(off.check_at(a, t0), Ok(()));
        }
    }
}
