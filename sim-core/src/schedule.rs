//! Schedules written compactly: `0x6 1* 0*` means "thread 0 six steps, then thread 1 until it
//! blocks or finishes, then thread 0 until it blocks or finishes". Expanding `*` needs the
//! machine, so [`expand`] replays as it goes and returns the explicit thread list.

use crate::machine::Machine;
use crate::scenario::Meter;

/// The most steps one `*` may expand to.
const MAX_RUN: usize = 100_000;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("schedule token {index} (`{token}`): {message}")]
pub struct ScheduleError {
    pub index: usize,
    pub token: String,
    pub message: String,
}

/// One run of a compact schedule: thread `thread` for `count` steps, or (`None`, written
/// `*`) until it blocks or finishes. Links write their schedules as runs too
/// ([`crate::link::encode_schedule`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub thread: usize,
    pub count: Option<usize>,
}

/// What is wrong with a run: its thread or its count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunError {
    Thread,
    Count,
}

/// The runs of a compact schedule as written: tokens separated by whitespace or commas.
pub fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
}

impl Run {
    /// Read one run: `N` (one step), `NxK` (K steps) or `N*`, where the thread N may be
    /// written `TN` or `tN`; numbers are decimal digits.
    pub fn parse(tok: &str) -> Result<Run, RunError> {
        let t = tok.trim_start_matches(['T', 't']);
        let (num, rep) = match t.find(['x', '*']) {
            Some(i) => (&t[..i], &t[i..]),
            None => (t, ""),
        };
        let thread = digits(num).ok_or(RunError::Thread)?;
        let count = match rep {
            "" => Some(1),
            "*" => None,
            r => Some(digits(&r[1..]).ok_or(RunError::Count)?),
        };
        Ok(Run { thread, count })
    }
}

/// A decimal number of digits only (no sign, no separators).
fn digits(s: &str) -> Option<usize> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Expand a compact schedule against `m` (which is stepped along the way).
pub fn expand(m: &mut Machine, text: &str) -> Result<Vec<usize>, ScheduleError> {
    expand_metered(m, text, &mut Meter::unlimited())
}

/// [`expand`], counting every step against a scenario's validation budget.
pub(crate) fn expand_metered(
    m: &mut Machine,
    text: &str,
    meter: &mut Meter<'_>,
) -> Result<Vec<usize>, ScheduleError> {
    let mut out = Vec::new();
    for (index, tok) in tokens(text).enumerate() {
        let e = |message: String| ScheduleError {
            index,
            token: tok.to_string(),
            message,
        };
        let Run { thread: tid, count } = Run::parse(tok).map_err(|err| {
            e(match err {
                RunError::Thread => "expected a thread number, e.g. 0, 1x3 or 2*".into(),
                RunError::Count => "expected a count after x, e.g. 1x3".into(),
            })
        })?;
        if tid >= m.threads.len() {
            return Err(e(format!("there is no thread {tid}")));
        }
        let mut n = 0;
        loop {
            if count == Some(n) || n >= MAX_RUN {
                break;
            }
            if count.is_none() && !m.is_runnable(tid) {
                break;
            }
            if !meter.step() {
                return Err(e("validation stopped".into()));
            }
            m.step_quiet(tid)
                .map_err(|err| e(format!("step {} of the schedule: {err}", out.len())))?;
            out.push(tid);
            n += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scenarios and links read runs with the same code: a link refuses only what needs the
    /// scenario (`*`) or counts no step.
    #[test]
    fn one_run_syntax_for_scenarios_and_links() {
        let run = |thread, count| Ok(Run { thread, count });
        assert_eq!(Run::parse("2"), run(2, Some(1)));
        assert_eq!(Run::parse("T1x3"), run(1, Some(3)));
        assert_eq!(Run::parse("t0*"), run(0, None));
        assert_eq!(Run::parse("x3"), Err(RunError::Thread));
        assert_eq!(Run::parse("+1"), Err(RunError::Thread));
        assert_eq!(Run::parse("1x"), Err(RunError::Count));
        assert_eq!(Run::parse("1x3x"), Err(RunError::Count));
        assert_eq!(
            tokens(" 0x2,1\t2* ").collect::<Vec<_>>(),
            ["0x2", "1", "2*"]
        );
        let link = crate::link::parse_schedule;
        assert_eq!(link("0x2 1 T2x2").unwrap(), [0, 0, 1, 2, 2]);
        assert!(link("1*").is_err());
        assert!(link("1x0").is_err());
        assert!(link("0x99999999999").is_err());
    }
}
