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
    for (index, tok) in text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .enumerate()
    {
        let e = |message: String| ScheduleError {
            index,
            token: tok.to_string(),
            message,
        };
        let t = tok.trim_start_matches(['T', 't']);
        let (num, rep) = match t.find(['x', '*']) {
            Some(i) => (&t[..i], &t[i..]),
            None => (t, ""),
        };
        let tid: usize = num
            .parse()
            .map_err(|_| e("expected a thread number, e.g. 0, 1x3 or 2*".into()))?;
        if tid >= m.threads.len() {
            return Err(e(format!("there is no thread {tid}")));
        }
        let count = match rep {
            "" => Some(1),
            "*" => None,
            r => Some(
                r[1..]
                    .parse::<usize>()
                    .map_err(|_| e("expected a count after x, e.g. 1x3".into()))?,
            ),
        };
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
