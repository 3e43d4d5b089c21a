//! Prometheus metrics in the text exposition format (version 0.0.4), written by hand.
//!
//! - `mmrace_http_requests_total{route,method,status}` — counter;
//! - `mmrace_http_request_duration_seconds{route}` — histogram (`_bucket{le}`, `_sum`,
//!   `_count`);
//! - `mmrace_scenarios_stored` — gauge, rows in the store (read in the background, at
//!   most every 15 s: a scrape never waits for the database);
//! - `mmrace_scenarios_created_total` — counter, uploads that created a row here;
//! - `mmrace_uploads_rate_limited_total` — counter;
//! - `mmrace_explorer_runs_total{outcome}` — counter (safe, violated, budget, cancelled;
//!   invalid and replay-limit for uploads refused by validation);
//! - `mmrace_explorer_running` — gauge: uploads being validated or explored;
//! - `mmrace_scenario_cache_hits_total`, `mmrace_scenario_cache_misses_total` — counters.
//!
//! `route` is the route template (`/api/scenarios/{id}`), never the raw path, so the number
//! of series stays bounded whatever clients request.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
pub const BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0, 10.0,
];

#[derive(Default, Debug)]
pub struct Metrics {
    http: Mutex<Http>,
    pub scenarios_created: AtomicU64,
    pub rate_limited: AtomicU64,
    pub explorer_running: AtomicI64,
    explorer_runs: Mutex<BTreeMap<&'static str, u64>>,
    pub cache_hits: AtomicU64,
    pub cache_misses: AtomicU64,
    /// The last row count read from the store, and when (`None`: never read, or the last
    /// read failed).
    stored: Mutex<StoredGauge>,
}

#[derive(Default, Debug)]
struct StoredGauge {
    value: Option<i64>,
    refreshed: Option<std::time::Instant>,
    refreshing: bool,
}

#[derive(Default, Debug)]
struct Http {
    requests: BTreeMap<(&'static str, &'static str, u16), u64>,
    latency: BTreeMap<&'static str, Histogram>,
}

#[derive(Default, Debug, Clone)]
struct Histogram {
    /// Non-cumulative counts per bucket; the last slot is `+Inf`.
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl Metrics {
    /// Count one answered request.
    pub fn observe(&self, route: &'static str, method: &'static str, status: u16, took: Duration) {
        let secs = took.as_secs_f64();
        let slot = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len());
        let mut http = self.http.lock().unwrap_or_else(|e| e.into_inner());
        *http.requests.entry((route, method, status)).or_insert(0) += 1;
        let h = http.latency.entry(route).or_default();
        h.counts[slot] += 1;
        h.sum += secs;
        h.count += 1;
    }

    /// Count one explorer run by outcome.
    pub fn explorer_run(&self, outcome: &'static str) {
        let mut runs = self.explorer_runs.lock().unwrap_or_else(|e| e.into_inner());
        *runs.entry(outcome).or_insert(0) += 1;
    }

    /// Whether the cached row count is older than `max_age` (or was never read) and no
    /// refresh is running; if so, the caller must refresh it ([`Metrics::stored_refreshed`]).
    pub fn stored_refresh_due(&self, max_age: Duration) -> bool {
        let mut g = self.stored.lock().unwrap_or_else(|e| e.into_inner());
        let stale = g.refreshed.is_none_or(|t| t.elapsed() >= max_age);
        if stale && !g.refreshing {
            g.refreshing = true;
            return true;
        }
        false
    }

    /// A refresh of the row count finished (`None`: the store could not be read; the gauge
    /// is then left out rather than reported wrong).
    pub fn stored_refreshed(&self, count: Option<i64>) {
        let mut g = self.stored.lock().unwrap_or_else(|e| e.into_inner());
        g.value = count;
        g.refreshed = Some(std::time::Instant::now());
        g.refreshing = false;
    }

    /// A scenario was stored by this instance: the cached row count follows at once.
    pub fn stored_added(&self) {
        let mut g = self.stored.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = g.value.as_mut() {
            *n += 1;
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let stored = self.stored.lock().unwrap_or_else(|e| e.into_inner()).value;
        let mut out = String::with_capacity(4096);
        let http = {
            let h = self.http.lock().unwrap_or_else(|e| e.into_inner());
            (h.requests.clone(), h.latency.clone())
        };
        out.push_str(
            "# HELP mmrace_http_requests_total HTTP requests answered, by route template, \
             method and status.\n# TYPE mmrace_http_requests_total counter\n",
        );
        for ((route, method, status), n) in &http.0 {
            let _ = writeln!(
                out,
                "mmrace_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                label(route)
            );
        }
        out.push_str(
            "# HELP mmrace_http_request_duration_seconds Time to answer, by route template.\n\
             # TYPE mmrace_http_request_duration_seconds histogram\n",
        );
        for (route, h) in &http.1 {
            let route = label(route);
            let mut cumulative = 0;
            for (i, n) in h.counts.iter().enumerate() {
                cumulative += n;
                let le = BUCKETS
                    .get(i)
                    .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
                let _ = writeln!(
                    out,
                    "mmrace_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "mmrace_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "mmrace_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        if let Some(n) = stored {
            let _ = write!(
                out,
                "# HELP mmrace_scenarios_stored Scenarios in the store.\n\
                 # TYPE mmrace_scenarios_stored gauge\nmmrace_scenarios_stored {n}\n"
            );
        }
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"
            );
        };
        counter(
            &mut out,
            "mmrace_scenarios_created_total",
            "Uploads that stored a new scenario (this instance).",
            self.scenarios_created.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "mmrace_uploads_rate_limited_total",
            "Uploads refused by the per-client rate limit.",
            self.rate_limited.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "mmrace_scenario_cache_hits_total",
            "Scenario reads answered from memory.",
            self.cache_hits.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "mmrace_scenario_cache_misses_total",
            "Scenario reads that went to the database.",
            self.cache_misses.load(Ordering::Relaxed),
        );
        out.push_str(
            "# HELP mmrace_explorer_runs_total Explorer runs at upload, by outcome.\n\
             # TYPE mmrace_explorer_runs_total counter\n",
        );
        let runs = self
            .explorer_runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for (outcome, n) in runs {
            let _ = writeln!(
                out,
                "mmrace_explorer_runs_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        let _ = write!(
            out,
            "# HELP mmrace_explorer_running Explorer runs in progress.\n\
             # TYPE mmrace_explorer_running gauge\nmmrace_explorer_running {}\n",
            self.explorer_running.load(Ordering::Relaxed)
        );
        out
    }
}

/// Escape a label value (`\`, `"` and newlines), as the exposition format requires.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms() {
        let m = Metrics::default();
        m.observe("/healthz", "GET", 200, Duration::from_micros(50));
        m.observe("/healthz", "GET", 200, Duration::from_millis(3));
        m.observe("/healthz", "GET", 503, Duration::from_secs(20));
        m.explorer_run("safe");
        m.stored_refreshed(Some(7));
        let text = m.render();
        for line in [
            "mmrace_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"200\"} 2",
            "mmrace_http_requests_total{route=\"/healthz\",method=\"GET\",status=\"503\"} 1",
            "mmrace_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.0001\"} 1",
            "mmrace_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"0.005\"} 2",
            "mmrace_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"10\"} 2",
            "mmrace_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"+Inf\"} 3",
            "mmrace_http_request_duration_seconds_count{route=\"/healthz\"} 3",
            "mmrace_scenarios_stored 7",
            "mmrace_explorer_runs_total{outcome=\"safe\"} 1",
            "mmrace_explorer_running 0",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        m.stored_refreshed(None);
        assert!(!m.render().contains("mmrace_scenarios_stored"));
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
