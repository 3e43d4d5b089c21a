//! `mmrace`: the command-line entry point. Parses arguments, sets up logging, runs the
//! subcommand, and reports any error as a cause chain on stderr with exit status 1 (bad
//! arguments: clap's message, status 2).

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use server::cli::{Cli, Command, Database, ServeArgs, ServeConfig, DEFAULT_LOG};
use server::frontend::Frontend;
use server::state::AppState;
use server::store::Store;
use server::web;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log.as_deref());
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Run(args) => return analysis(|out| server::run::run(&args, out)),
        Command::Export(args) => return analysis(|out| server::export::export(&args, out)),
        Command::Check(args) => {
            // A progress line on a terminal (stderr), overwritten in place.
            let tty = std::io::stderr().is_terminal() && !args.json;
            return analysis(|out| {
                let r = server::check::check(&args, out, |line| {
                    if tty {
                        let _ = write!(std::io::stderr(), "\r\x1b[2K{line}");
                    }
                    true
                });
                if tty {
                    let _ = write!(std::io::stderr(), "\r\x1b[2K");
                }
                r
            });
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::FAILURE
        }
    }
}

/// Run an analysis command: its output to stdout, input errors as `error: ...` with
/// status 2, otherwise the command's own status (0 safe, 1 violated, 3 budget).
fn analysis(
    f: impl FnOnce(&mut String) -> Result<server::cli::Outcome, server::cli::InputError>,
) -> ExitCode {
    let mut out = String::new();
    let outcome = f(&mut out);
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
    match outcome {
        Ok(o) => ExitCode::from(o as u8),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::from(server::cli::Outcome::Invalid as u8)
        }
    }
}

/// Logs go to stderr (stdout carries the one line tools read: where we listen).
/// `--log`/`MMRACE_LOG` wins, then `RUST_LOG`, then `info`.
fn init_tracing(log: Option<&str>) {
    let filter = match log {
        // Already validated by the argument parser.
        Some(directives) => EnvFilter::new(directives),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG)),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn report(e: &anyhow::Error) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "error: {e}");
    let mut previous = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        // Some errors repeat their source in their own message (sqlx does); say it once.
        if !previous.contains(&cause) {
            let _ = writeln!(stderr, "  caused by: {cause}");
        }
        previous = cause;
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.resolve(std::env::var_os("DATABASE_URL").as_deref())?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(serve_async(config))
}

async fn serve_async(config: ServeConfig) -> anyhow::Result<()> {
    let shutdown = shutdown_signal().context("cannot install the signal handlers")?;
    let store = match &config.database {
        Database::Sqlite(path) => Store::open_sqlite(path).await?,
        Database::Postgres(url) => Store::open_postgres(url).await?,
    };
    let schema_version = store
        .applied_migrations()
        .await?
        .last()
        .map_or(0, |m| m.version);
    tracing::info!(db = %store.describe(), schema_version, "database ready");
    let frontend = Frontend::select(config.static_dir);
    tracing::info!(frontend = %frontend.describe(), "frontend");

    let listener = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    let addr = listener
        .local_addr()
        .context("cannot read the listening address")?;
    {
        // Tools (the e2e harness, scripts) read this line; keep its wording.
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "mmrace listening on http://{addr}/")
            .and_then(|()| stdout.flush())
            .context("cannot write to stdout")?;
    }

    let app = web::router(AppState::with_options(
        store.clone(),
        frontend,
        config.options,
    ));
    let served = web::serve(listener, app, shutdown).await;
    store.close().await;
    tracing::info!("stopped");
    served.context("the HTTP server failed")
}

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM. Installed before serving so that a
/// failure to install is reported at start.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Ok(async move {
        #[cfg(unix)]
        let term = term.recv();
        #[cfg(not(unix))]
        let term = std::future::pending::<Option<()>>();
        tokio::select! {
            res = tokio::signal::ctrl_c() => {
                if let Err(error) = res {
                    tracing::error!(%error, "cannot listen for Ctrl-C; stopping");
                }
            }
            _ = term => tracing::info!("SIGTERM received"),
        }
    })
}
