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
//! - more than [`Limits::max_replay_steps`] steps replayed to check an upload's schedules
//!   → 422;
//! - an upload's work (validation, then exploration) not finished validating within
//!   [`Limits::explorer_max_time`] → 503 with `Retry-After`;
//! - the explorer's own budget (states, what is left of the wall time) → not an error:
//!   "budget exhausted" is a verdict.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
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
    /// The explorer's budget per upload. `explorer_max_time` bounds all of an upload's
    /// CPU work: validation (with its schedule replays) and exploration together.
    pub explorer_max_states: u64,
    pub explorer_max_time: Duration,
    /// The most steps validation may replay to check an upload's schedules, in total.
    pub max_replay_steps: usize,
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
            // The shipped scenarios need at most ~6,400 (the THP-split seeds: 3,161
            // schedule steps, each replayed twice); on the largest scenarios the format
            // allows (1,024 pages) 20,000 steps take about 0.6 s.
            max_replay_steps: 20_000,
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

/// A network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`; a bare address is a /32 or
/// /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let (a, p) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("`{a}` is not an IPv4 or IPv6 address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&n| n <= max)
                .ok_or_else(|| format!("`/{p}` is not a prefix length from 0 to {max}"))?,
        };
        Ok(Cidr {
            addr: normalize(addr),
            prefix,
        })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, normalize(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// An IPv4 address written as IPv6 (`::ffff:10.0.0.1`, as a dual-stack socket reports it)
/// is that IPv4 address.
fn normalize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The rate-limiting key of a client: an IPv4 address, or the /64 of an IPv6 address (what
/// one subscriber usually has whole: rotating addresses inside it does not help).
pub fn client_bucket(ip: IpAddr) -> IpAddr {
    match normalize(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// The address of the client a request comes from. The socket's peer, unless the peer is a
/// trusted proxy (`--trust-proxy`): then the `X-Forwarded-For` chain is read from the right
/// (the entries trusted proxies appended) and the first address that is not a trusted proxy
/// is the client. Without trusted proxies `X-Forwarded-For` is ignored: anyone can write it.
pub fn client_address<'a>(
    peer: Option<IpAddr>,
    forwarded_for: impl DoubleEndedIterator<Item = &'a str>,
    trusted: &[Cidr],
) -> IpAddr {
    let peer = normalize(peer.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    for entry in forwarded_for.rev().flat_map(|h| h.rsplit(',')) {
        let Ok(ip) = entry.trim().parse::<IpAddr>() else {
            // A malformed entry: what the last trusted hop saw is all we know.
            break;
        };
        client = normalize(ip);
        if !is_trusted(client) {
            break;
        }
    }
    client
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
    fn cidrs() {
        let c = |s: &str| s.parse::<Cidr>().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(c("10.0.0.0/8").contains(ip("10.255.0.1")));
        assert!(!c("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(c("10.0.0.0/8").contains(ip("::ffff:10.1.2.3")));
        assert!(c("0.0.0.0/0").contains(ip("1.2.3.4")));
        assert!(!c("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(c("2001:db8::/32").contains(ip("2001:db8:ffff::1")));
        assert!(c("::1").contains(ip("::1")));
        assert!(!c("::1").contains(ip("::2")));
        assert!(c("192.0.2.7").contains(ip("192.0.2.7")));
        for bad in ["10.0.0.0/33", "::/129", "x/8", "10.0.0.0/", "1.2.3"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn client_addresses_and_buckets() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let proxies = ["10.0.0.0/8".parse::<Cidr>().unwrap()];
        let addr = |peer: &str, xff: &[&str], trusted: &[Cidr]| {
            client_address(Some(ip(peer)), xff.iter().copied(), trusted)
        };
        assert_eq!(addr("1.2.3.4", &["9.9.9.9"], &[]), ip("1.2.3.4"));
        assert_eq!(
            addr("1.2.3.4", &["9.9.9.9"], &proxies),
            ip("1.2.3.4"),
            "a peer that is not a trusted proxy cannot pick its address"
        );
        assert_eq!(
            addr("10.0.0.2", &["6.6.6.6, 8.8.8.8"], &proxies),
            ip("8.8.8.8")
        );
        assert_eq!(
            addr("10.0.0.2", &["6.6.6.6", "8.8.8.8, 10.0.0.9"], &proxies),
            ip("8.8.8.8"),
            "hops through trusted proxies are skipped, across header lines"
        );
        assert_eq!(
            addr("10.0.0.2", &["junk, 10.0.0.3"], &proxies),
            ip("10.0.0.3")
        );
        assert_eq!(addr("10.0.0.2", &[], &proxies), ip("10.0.0.2"));
        assert_eq!(
            client_bucket(ip("2001:db8:1:2:3:4:5:6")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(client_bucket(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
        assert_eq!(client_bucket(ip("1.2.3.4")), ip("1.2.3.4"));
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
