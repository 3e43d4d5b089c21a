//! `mmrace export`: pictures of a scenario's steps for slides — SVG or PNG (one file per
//! step) or an animated GIF of a step range. The pictures come from the `render` crate, the
//! same code the browser's Export dialog runs (as wasm), so both give the same bytes.
//! Exit codes: 0 written, 2 invalid input (the message names the argument).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use render::{Film, Format, Size};
use sim_core::link::Link;
use sim_core::Scenario;

use crate::cli::{load_scenario, resolve_schedule, InputError, Outcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Svg,
    Png,
    Gif,
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// Scenario file (JSON or `.litmus`), the name of a shipped scenario, or a
    /// self-contained link (`#v1.…`, or a whole URL containing it).
    pub scenario: String,
    /// Which schedule (as for `mmrace run`: a name or threads such as `0x6 1* 0*`). Default:
    /// the link's schedule, else the scenario's first schedule, else round robin.
    #[arg(long, short)]
    pub schedule: Option<String>,
    /// A range of steps, both ends included (`3..17`); step N is the state after N steps,
    /// 0 the initial state. Default: the link's step (SVG/PNG) or every step (GIF).
    #[arg(long, value_name = "A..B", conflicts_with = "step")]
    pub steps: Option<String>,
    /// One step (the same as `--steps N..N`). Default for SVG/PNG: the last step.
    #[arg(long, value_name = "N")]
    pub step: Option<usize>,
    /// svg or png (one file per step), or gif (one animated file).
    #[arg(long, value_enum)]
    pub format: ExportFormat,
    /// Picture size: 1280x720 or 1920x1080.
    #[arg(long, default_value = "1280x720")]
    pub size: String,
    /// Output file (one picture or a GIF) or directory (created if missing; files named
    /// `<scenario>-step-<N>.<ext>`). Default: the current directory.
    #[arg(long, value_name = "PATH_OR_DIR")]
    pub out: Option<PathBuf>,
    /// GIF: milliseconds per frame.
    #[arg(long, default_value_t = render::DEFAULT_DELAY_MS)]
    pub delay_ms: u32,
}

/// Parse `A..B` (or `A..=B`) into an inclusive range.
fn parse_steps(s: &str) -> Result<(usize, usize), InputError> {
    let bad = |why: &str| {
        InputError(format!(
            "--steps `{s}`: {why} (expected A..B with A <= B, e.g. 3..17)"
        ))
    };
    let (a, b) = s.split_once("..").ok_or_else(|| bad("no `..`"))?;
    let b = b.strip_prefix('=').unwrap_or(b);
    let a: usize = a
        .trim()
        .parse()
        .map_err(|_| bad("the first step is not a number"))?;
    let b: usize = b
        .trim()
        .parse()
        .map_err(|_| bad("the last step is not a number"))?;
    if a > b {
        return Err(bad("the first step is after the last"));
    }
    Ok((a, b))
}

/// A scenario from a file, the shipped library or a link; with the link's schedule, step
/// and schedule name when it is a link.
type Loaded = (Scenario, Option<Link>, String);

fn load(arg: &str) -> Result<Loaded, InputError> {
    let fragment = match arg.find("#v") {
        Some(i) => Some(&arg[i + 1..]),
        None if arg.starts_with("v1.") && !Path::new(arg).exists() => Some(arg),
        None => None,
    };
    if let Some(f) = fragment {
        let link = Link::decode(f).map_err(|e| InputError(format!("scenario link: {e}")))?;
        return Ok((link.scenario.clone(), Some(link), "link".into()));
    }
    let sc = load_scenario(arg)?;
    let stem = Path::new(arg)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("scenario");
    let stem = stem
        .strip_suffix(".json")
        .or_else(|| stem.strip_suffix(".litmus"))
        .unwrap_or(stem);
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok((sc, None, stem))
}

/// `mmrace export`. Writes the files and lists them in `out`.
pub fn export(args: &ExportArgs, out: &mut String) -> Result<Outcome, InputError> {
    let size = Size::parse(&args.size).map_err(|_| {
        InputError(format!(
            "--size `{}`: must be 1280x720 or 1920x1080",
            args.size
        ))
    })?;
    if !(render::MIN_DELAY_MS..=render::MAX_DELAY_MS).contains(&args.delay_ms) {
        return Err(InputError(format!(
            "--delay-ms {}: must be between {} and {}",
            args.delay_ms,
            render::MIN_DELAY_MS,
            render::MAX_DELAY_MS
        )));
    }
    let (sc, link, stem) = load(&args.scenario)?;
    let initial = sc
        .build()
        .map_err(|e| InputError(format!("{}: {e}", args.scenario)))?;
    let (schedule, name, link_step) = match (&link, &args.schedule) {
        (Some(l), None) => (l.schedule.clone(), l.schedule_name.clone(), Some(l.cursor)),
        _ => {
            let s = resolve_schedule(&sc, &initial, args.schedule.as_deref())?;
            let name = match args.schedule.as_deref() {
                Some(n) if sc.schedule(n).is_some() => Some(n.to_string()),
                Some(_) => None,
                None => sc.schedules.first().map(|s| s.name.clone()),
            };
            (s, name, None)
        }
    };
    // A schedule that cannot be stepped is bad input, not a rendering failure.
    sim_core::replay(&sc, &schedule).map_err(|e| InputError(format!("--schedule: {e}")))?;
    let len = schedule.len();
    let (from, to) = match (&args.steps, args.step) {
        (Some(s), _) => parse_steps(s)?,
        (None, Some(n)) => (n, n),
        (None, None) => match (args.format, link_step) {
            (ExportFormat::Gif, _) => (0, len),
            (_, Some(c)) => (c, c),
            (_, None) => (len, len),
        },
    };
    let arg_name = if args.steps.is_some() {
        format!("--steps {from}..{to}")
    } else {
        format!("--step {to}")
    };
    if to > len {
        return Err(InputError(format!(
            "{arg_name}: the schedule has {len} steps (0 is the initial state, {len} the last)"
        )));
    }
    let frames = to - from + 1;
    if frames > render::MAX_FRAMES {
        return Err(InputError(format!(
            "{arg_name}: {frames} pictures; at most {} per export",
            render::MAX_FRAMES
        )));
    }
    let film = Film::new(&sc, &schedule, name.as_deref());
    let format = match args.format {
        ExportFormat::Svg => Format::Svg,
        ExportFormat::Png => Format::Png,
        ExportFormat::Gif => Format::Gif,
    };
    let ext = format.ext();
    let pictures = render::pictures(&film, format, from, to, size, args.delay_ms)
        .map_err(|e| InputError(format!("{}: {e}", args.scenario)))?;
    let mut files: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    if format == Format::Gif {
        let path = file_path(
            args.out.as_deref(),
            &format!("{stem}-steps-{from}-{to}.{ext}"),
        )?;
        files.extend(pictures.into_iter().map(|b| (path.clone(), b)));
    } else {
        let width = to.to_string().len().max(2);
        let many = frames > 1;
        for (i, bytes) in pictures.into_iter().enumerate() {
            let step = from + i;
            let default_name = format!("{stem}-step-{step:0width$}.{ext}");
            let path = if many {
                dir_path(args.out.as_deref())?.join(default_name)
            } else {
                file_path(args.out.as_deref(), &default_name)?
            };
            files.push((path, bytes));
        }
    }
    for (path, bytes) in &files {
        std::fs::write(path, bytes)
            .map_err(|e| InputError(format!("--out: cannot write {}: {e}", path.display())))?;
        let _ = writeln!(out, "{}", path.display());
    }
    Ok(Outcome::Safe)
}

/// One output file: `--out` itself, or `name` inside `--out` when that is a directory
/// (or ends in `/`), or `name` in the current directory.
fn file_path(out: Option<&Path>, name: &str) -> Result<PathBuf, InputError> {
    match out {
        None => Ok(PathBuf::from(name)),
        Some(p) if p.is_dir() || p.as_os_str().to_string_lossy().ends_with('/') => {
            Ok(dir_path(Some(p))?.join(name))
        }
        Some(p) => {
            if let Some(parent) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                if !parent.is_dir() {
                    return Err(InputError(format!(
                        "--out {}: the directory {} does not exist",
                        p.display(),
                        parent.display()
                    )));
                }
            }
            Ok(p.to_path_buf())
        }
    }
}

/// The output directory for a sequence, created if missing.
fn dir_path(out: Option<&Path>) -> Result<PathBuf, InputError> {
    let Some(d) = out else {
        return Ok(PathBuf::from("."));
    };
    if d.exists() && !d.is_dir() {
        return Err(InputError(format!(
            "--out {}: a sequence of pictures needs a directory, and this is a file",
            d.display()
        )));
    }
    std::fs::create_dir_all(d).map_err(|e| InputError(format!("--out {}: {e}", d.display())))?;
    Ok(d.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_ranges() {
        assert_eq!(parse_steps("3..17").unwrap(), (3, 17));
        assert_eq!(parse_steps("3..=17").unwrap(), (3, 17));
        assert_eq!(parse_steps("0..0").unwrap(), (0, 0));
        for bad in ["3", "a..4", "3..b", "5..2", "..", "-1..2"] {
            let e = parse_steps(bad).unwrap_err().0;
            assert!(e.starts_with("--steps"), "{bad}: {e}");
        }
    }
}
