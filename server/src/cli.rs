//! The command line and environment: what `mmrace` was asked to do, and what the analysis
//! commands (`run`, `check`, `export`) share: reading a scenario, resolving a schedule, exit
//! statuses.
//!
//! Parsing is clap's (bad arguments: clap's message, exit status 2). Checks that need more
//! than one source (an argument *and* the environment) live in [`ServeArgs::resolve`], which
//! tests call directly instead of spawning the binary.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::limits::Limits;
use crate::state::Options;
use sim_core::Scenario;

/// Default listen address: loopback only; exposing the server is an explicit decision.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
/// Default SQLite file, relative to the working directory.
pub const DEFAULT_DB: &str = "mmrace.sqlite3";
/// Default log filter when neither `--log`/`MMRACE_LOG` nor `RUST_LOG` is set.
pub const DEFAULT_LOG: &str = "info";

/// Step through Linux memory-management races: the mmrace server and command line.
#[derive(Debug, Parser)]
#[command(name = "mmrace", version, propagate_version = true)]
pub struct Cli {
    /// Log filter: a level (error, warn, info, debug, trace) or tracing directives such as
    /// `info,server=debug`. Falls back to RUST_LOG, then to `info`. Logs go to stderr.
    #[arg(long, global = true, env = "MMRACE_LOG", value_name = "LEVEL", value_parser = parse_log_filter)]
    pub log: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web app and the scenario store over HTTP.
    Serve(ServeArgs),
    /// Replay a scenario's schedule: the step table and the invariant results
    /// (exit 0 no violation, 1 violated, 2 invalid input).
    Run(crate::run::RunArgs),
    /// Explore every interleaving of a scenario (or seeded random ones): a verdict per
    /// invariant and the shortest counterexample with a link (exit 0 safe, 1 violated,
    /// 2 invalid input, 3 budget exhausted without a violation).
    Check(crate::check::CheckArgs),
    /// Pictures of steps for slides: SVG or PNG per step, or an animated GIF of a range
    /// (exit 0 written, 2 invalid input).
    Export(crate::export::ExportArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (IP:PORT; port 0 picks a free port, printed at start).
    #[arg(long, env = "MMRACE_ADDR", value_name = "ADDR", default_value = DEFAULT_ADDR,
          value_parser = parse_addr)]
    pub addr: SocketAddr,

    /// SQLite database file; created (with its schema) if missing. Ignored when
    /// DATABASE_URL names a PostgreSQL database (postgres://user:password@host:port/db).
    #[arg(long, env = "MMRACE_DB", value_name = "FILE", default_value = DEFAULT_DB)]
    pub db: PathBuf,

    /// Serve the frontend from this folder instead of the copy embedded in the binary
    /// (for frontend development; e.g. `--static-dir dist`).
    #[arg(long, value_name = "DIR")]
    pub static_dir: Option<PathBuf>,

    /// Scenario uploads allowed per minute per client address (sustained rate of a token
    /// bucket); 0 turns the limit off.
    #[arg(long, env = "MMRACE_UPLOADS_PER_MINUTE", value_name = "N", default_value_t = Limits::default().uploads_per_minute)]
    pub uploads_per_minute: u32,

    /// Uploads a client may make in a burst before the per-minute rate applies.
    #[arg(long, env = "MMRACE_UPLOAD_BURST", value_name = "N", default_value_t = Limits::default().upload_burst,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub upload_burst: u32,

    /// Reverse proxies or load balancers to believe, as a comma-separated list of networks
    /// (e.g. `10.0.0.0/8,::1`): when the peer is one of them, the client is the rightmost
    /// X-Forwarded-For address that is not. Without this, X-Forwarded-For is ignored (any
    /// client can write it). Clients are rate-limited by IPv4 address or IPv6 /64.
    #[arg(
        long,
        env = "MMRACE_TRUST_PROXY",
        value_name = "CIDR,...",
        value_delimiter = ','
    )]
    pub trust_proxy: Vec<crate::limits::Cidr>,

    /// The most steps replayed to check an upload's schedules, in total (more: 422).
    #[arg(long, env = "MMRACE_MAX_REPLAY_STEPS", value_name = "N",
          default_value_t = Limits::default().max_replay_steps,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=3_200_000))]
    pub max_replay_steps: usize,

    /// Explorer runs at the same time (uploads beyond that wait, then get 503).
    #[arg(long, env = "MMRACE_EXPLORER_CONCURRENCY", value_name = "N",
          default_value_t = Limits::default().explorer_concurrency as u32,
          value_parser = clap::value_parser!(u32).range(1..256))]
    pub explorer_concurrency: u32,

    /// The explorer's budget per upload: distinct states.
    #[arg(long, env = "MMRACE_EXPLORER_MAX_STATES", value_name = "N", default_value_t = Limits::default().explorer_max_states)]
    pub explorer_max_states: u64,

    /// The explorer's budget per upload: wall-clock milliseconds (at most 6000: with the wait
    /// for a free explorer slot, 3 s, it stays under the 10 s request timeout).
    #[arg(long, env = "MMRACE_EXPLORER_MAX_MS", value_name = "MS", default_value_t = Limits::default().explorer_max_time.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(1..=6000))]
    pub explorer_max_ms: u64,
}

/// Everything `serve` needs, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    pub database: Database,
    pub static_dir: Option<PathBuf>,
    pub options: Options,
}

/// Which store.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    /// The SQLite file (`--db`/`MMRACE_DB`), the default.
    Sqlite(PathBuf),
    /// `DATABASE_URL=postgres://...` (or `postgresql://`).
    Postgres(String),
}

/// Never prints a PostgreSQL URL: it may carry a password.
impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Database::Postgres(_) => f.write_str("Postgres(<DATABASE_URL>)"),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "DATABASE_URL is set ({scheme} URL), but mmrace stores scenarios only in PostgreSQL \
         (postgres:// or postgresql:// URLs) or in its built-in SQLite file. Unset \
         DATABASE_URL to use SQLite (choose its file with --db or MMRACE_DB)"
    )]
    UnsupportedDatabaseUrl {
        /// Only the scheme: the rest of the URL may carry a password.
        scheme: String,
    },
    #[error("--static-dir {0}: not a directory")]
    StaticDirNotADirectory(PathBuf),
}

impl ServeArgs {
    /// Combine the arguments with the environment. `database_url` is the value of
    /// `DATABASE_URL` (passed in so tests need not touch the process environment).
    pub fn resolve(self, database_url: Option<&OsStr>) -> Result<ServeConfig, ConfigError> {
        let database = match database_url.filter(|u| !u.is_empty()) {
            None => Database::Sqlite(self.db),
            Some(url) => {
                let url = url.to_string_lossy();
                match url.split_once("://") {
                    Some(("postgres" | "postgresql", _)) => Database::Postgres(url.into_owned()),
                    Some((scheme, _)) if !scheme.is_empty() && !scheme.contains(['@', '/']) => {
                        return Err(ConfigError::UnsupportedDatabaseUrl {
                            scheme: format!("{scheme}://"),
                        })
                    }
                    _ => {
                        return Err(ConfigError::UnsupportedDatabaseUrl {
                            scheme: "an unrecognised".to_owned(),
                        })
                    }
                }
            }
        };
        if let Some(dir) = &self.static_dir {
            if !dir.is_dir() {
                return Err(ConfigError::StaticDirNotADirectory(dir.clone()));
            }
        }
        let limits = Limits {
            uploads_per_minute: self.uploads_per_minute,
            upload_burst: self.upload_burst,
            explorer_concurrency: self.explorer_concurrency as usize,
            explorer_max_states: self.explorer_max_states,
            explorer_max_time: Duration::from_millis(self.explorer_max_ms),
            max_replay_steps: self.max_replay_steps,
            ..Limits::default()
        };
        Ok(ServeConfig {
            addr: self.addr,
            database,
            static_dir: self.static_dir,
            options: Options {
                limits,
                trusted_proxies: self.trust_proxy,
            },
        })
    }
}

fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| {
        format!("expected IP:PORT, for example {DEFAULT_ADDR}, 0.0.0.0:8080 or [::1]:8080")
    })
}

fn parse_log_filter(s: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::builder()
        .parse(s)
        .map(|_| s.to_owned())
        .map_err(|e| format!("not a log level or filter: {e}"))
}

// ---------------------------------------------------------------------------------------------
// What the analysis commands share

/// Exit status of the analysis commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Safe = 0,
    Violated = 1,
    Invalid = 2,
    Budget = 3,
    /// The scenario's condition (`exists` / `~exists` / `forall`) does not hold.
    ConditionFails = 4,
}

/// A problem with the input: printed as `error: ...`, exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// Read a scenario from a file or the shipped library.
pub fn load_scenario(arg: &str) -> Result<Scenario, InputError> {
    let path = PathBuf::from(arg);
    let text = if path.exists() {
        read_limited(&path)?
    } else if let Some(s) = sim_core::library::get(arg) {
        s.to_string()
    } else {
        return Err(InputError(format!(
            "{arg}: no such file, and not a shipped scenario (see assets/scenarios/)"
        )));
    };
    // JSON (first non-blank character `{`) or the litmus-style text form.
    sim_core::litmus::load_any(&text).map_err(|e| InputError(format!("{arg}:{e}")))
}

fn read_limited(path: &Path) -> Result<String, InputError> {
    let meta =
        std::fs::metadata(path).map_err(|e| InputError(format!("{}: {e}", path.display())))?;
    if meta.len() > sim_core::scenario::MAX_JSON_BYTES as u64 {
        return Err(InputError(format!(
            "{}: {} bytes; scenarios are limited to {} bytes",
            path.display(),
            meta.len(),
            sim_core::scenario::MAX_JSON_BYTES
        )));
    }
    std::fs::read_to_string(path).map_err(|e| InputError(format!("{}: {e}", path.display())))
}

/// Resolve `--schedule` against the scenario.
pub fn resolve_schedule(
    sc: &Scenario,
    initial: &sim_core::Machine,
    arg: Option<&str>,
) -> Result<Vec<usize>, InputError> {
    match arg {
        Some(a) => {
            if let Some(s) = sc.schedule(a) {
                return s
                    .resolve(initial)
                    .map_err(|e| InputError(format!("schedule `{a}`: {e}")));
            }
            sim_core::schedule::expand(&mut initial.clone(), a)
                .map_err(|e| InputError(format!("--schedule: {e}")))
        }
        None => match sc.schedules.first() {
            Some(s) => s
                .resolve(initial)
                .map_err(|e| InputError(format!("schedule `{}`: {e}", s.name))),
            None => {
                // Round robin until everyone finished (or the step limit).
                let mut m = initial.clone();
                let mut out = Vec::new();
                let mut next = 0usize;
                while out.len() < sim_core::machine::MAX_STEPS {
                    let r = m.runnable();
                    let Some(&t) = r.iter().find(|&&t| t >= next).or(r.first()) else {
                        break;
                    };
                    let _ = m.step_quiet(t);
                    out.push(t);
                    next = t + 1;
                }
                Ok(out)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
