//! The editor's text as you type: parsed and validated, its errors placed at the line of the
//! statement they name, and the app reloaded for the edited scenario at the same step.

use sim_core::link::Link;
use sim_core::litmus;
use sim_core::ops::OpInfo;
use sim_core::{lex, Scenario};

use crate::state::App;

/// An error in the editor's text: the 1-based line it belongs to and the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub col: Option<usize>,
    pub message: String,
}

/// Parse and validate the editor's text as you type: the scenario, or the error placed at
/// its line (syntax errors carry their line; validation errors name a JSON path such as
/// `threads[1].ops[0].to_pfn`, which is mapped to the statement that wrote it). The named
/// schedules are not replayed here — that can take a tenth of a second on long schedules —
/// but by [`check_schedules`] once typing pauses.
pub fn analyse(text: &str) -> Result<Scenario, LineError> {
    let sc = litmus::parse(text).map_err(|e| LineError {
        line: e.line,
        col: Some(e.col),
        message: format!("expected {}, found {}", e.expected, e.found),
    })?;
    let bare = Scenario {
        schedules: Vec::new(),
        ..sc.clone()
    };
    bare.build().map_err(|e| located(text, e))?;
    Ok(sc)
}

/// The full validation of a scenario [`analyse`] accepted: its named schedules replay.
pub fn check_schedules(text: &str, sc: &Scenario) -> Result<(), LineError> {
    sc.build().map(|_| ()).map_err(|e| located(text, e))
}

fn located(text: &str, e: sim_core::ScenarioError) -> LineError {
    LineError {
        line: line_of_path(text, &e.path),
        col: None,
        message: e.to_string(),
    }
}

/// The statements of the text, each as (1-based line, first word), with `;` splitting
/// statements and the `{`/`}` of a thread block splitting off its operations.
fn statements(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        // Cut the comment (a `#` outside strings) and blank out strings so that `;`, `{`, `}`
        // inside them do not split.
        let mut plain = String::with_capacity(line.len());
        let mut rest = line;
        while let Some(c) = rest.chars().next() {
            let n = match c {
                '#' => break,
                '"' => {
                    let n = lex::string_len(rest).0;
                    plain.push('"');
                    plain.extend(std::iter::repeat_n('x', n - 1));
                    n
                }
                c => {
                    plain.push(c);
                    c.len_utf8()
                }
            };
            rest = &rest[n..];
        }
        for seg in plain.split([';', '{', '}']) {
            if let Some(w) = seg.split_whitespace().next() {
                out.push((n + 1, w.to_string()));
            }
        }
    }
    out
}

/// The line of the statement a JSON path names (line 1, the header, if none matches).
pub fn line_of_path(text: &str, path: &str) -> usize {
    let mut parts = path.split('.');
    let head = parts.next().unwrap_or("");
    let (field, index) = match head.split_once('[') {
        Some((f, rest)) => (f, rest.trim_end_matches(']').parse::<usize>().ok()),
        None => (head, None),
    };
    if field == "condition" {
        // The condition statement: `exists`, `~exists` or `forall` at the start of a line.
        return text
            .lines()
            .position(|l| {
                let l = l.trim_start();
                ["exists", "~exists", "forall"]
                    .iter()
                    .any(|k| l.starts_with(k))
            })
            .map_or(1, |i| i + 1);
    }
    let keyword = match field {
        "vmas" => "vma",
        "pages" => "page",
        "thps" => "thp",
        "tlb" => "tlb",
        "threads" => "thread",
        "schedules" => "schedule",
        "alloc_pfns" => "alloc",
        "cpus" => "cpus",
        "description" => "description",
        _ => return 1,
    };
    let stmts = statements(text);
    let pos: Vec<usize> = stmts
        .iter()
        .enumerate()
        .filter(|(_, (_, w))| w == keyword)
        .map(|(i, _)| i)
        .collect();
    let Some(&at) = pos.get(index.unwrap_or(0)) else {
        return pos.first().map_or(1, |&i| stmts[i].0);
    };
    // threads[i].ops[j]: the j-th operation after the thread's header.
    if field == "threads" {
        if let Some(j) = parts
            .next()
            .and_then(|p| p.strip_prefix("ops["))
            .and_then(|p| p.split(']').next())
            .and_then(|p| p.parse::<usize>().ok())
        {
            if let Some((l, _)) = stmts[at + 1..]
                .iter()
                .take_while(|(_, w)| OpInfo::get(w).is_some())
                .nth(j)
            {
                return *l;
            }
        }
    }
    stmts[at].0
}

/// The app for an edited scenario, keeping what is on screen where it still applies: the
/// same named schedule at the same step, or the same free schedule; else the scenario's first
/// schedule at step 0.
pub fn reload(current: &App, sc: Scenario) -> Result<App, String> {
    let cursor = current.cursor;
    let keep = match &current.named {
        Some(n) if sc.schedule(&n.name).is_some() => {
            App::from_scenario(sc.clone(), Some(&n.name), cursor)
        }
        Some(_) => Err(String::new()),
        None => {
            let mut l = Link::new(sc.clone(), (*current.schedule).clone(), cursor);
            l.schedule_name = None;
            App::from_link(l)
        }
    };
    keep.or_else(|_| App::from_scenario(sc, None, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Action;

    fn litmus_of(path: &str) -> String {
        let json = sim_core::library::get(path).unwrap();
        litmus::print(&Scenario::from_json(json).unwrap())
    }

    #[test]
    fn syntax_errors_are_placed_at_their_line() {
        let text = litmus_of("mprotect-basic.json");
        assert!(analyse(&text).is_ok());
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let vma = lines.iter().position(|l| l.starts_with("vma ")).unwrap();
        lines[vma] = lines[vma].replace("PROT_READ", "PROT_REED");
        let e = analyse(&lines.join("\n")).unwrap_err();
        assert_eq!(e.line, vma + 1, "{e:?}");
    }

    #[test]
    fn validation_errors_are_placed_at_the_statement_they_name() {
        let text = litmus_of("whatif-c-restore-from-stale-entry-v6.4.json");
        // The migration target equals the page's own pfn: threads[1].ops[0] is invalid.
        let lines: Vec<&str> = text.lines().collect();
        let mig = lines.iter().position(|l| l.contains("migrate ")).unwrap();
        let page = lines.iter().find(|l| l.starts_with("page ")).unwrap();
        let pfn = page
            .split("pfn ")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap();
        let bad = text.replacen(
            lines[mig],
            &format!("  migrate 0x7f0000000000 -> pfn {pfn}"),
            1,
        );
        let e = analyse(&bad).unwrap_err();
        assert!(e.message.contains("threads[1].ops[0]"), "{e:?}");
        assert_eq!(e.line, mig + 1, "{e:?}");
        // A second VMA overlapping the first: the error is at the second `vma` line.
        let vma = lines.iter().position(|l| l.starts_with("vma ")).unwrap();
        let dup = text.replacen(lines[vma], &format!("{}\n{}", lines[vma], lines[vma]), 1);
        let e = analyse(&dup).unwrap_err();
        assert!(e.message.starts_with("vmas[1]"), "{e:?}");
        assert_eq!(e.line, vma + 2, "{e:?}");
        // A condition naming a thread that does not exist: the error is at the condition.
        let cond = lines
            .iter()
            .position(|l| l.starts_with("exists any ("))
            .expect("what-if (c) has a condition");
        let typo = text.replacen(
            "exists any (mprotect returned",
            "exists any (mprotcet returned",
            1,
        );
        let e = analyse(&typo).unwrap_err();
        assert!(
            e.message
                .starts_with("condition: there is no thread \"mprotcet\""),
            "{e:?}"
        );
        assert_eq!(e.line, cond + 1, "{e:?}");
        // A syntax error inside it: at its line and column.
        let typo = text.replacen("pte_write(", "pte_wirte(", 1);
        let e = analyse(&typo).unwrap_err();
        assert_eq!(e.line, cond + 1, "{e:?}");
        assert!(e.message.contains("a known function"), "{e:?}");
        // Thread ops on one line, separated by `;`.
        let t = "thread \"a\" { read 0x1000; write 0x2000 = 1 }\nthread \"b\" {\n read 0x1\n}";
        assert_eq!(line_of_path(t, "threads[0].ops[1].addr"), 1);
        assert_eq!(line_of_path(t, "threads[1].ops[0].addr"), 3);
        assert_eq!(line_of_path(t, "threads[1].name"), 2);
        assert_eq!(line_of_path(t, "kernel"), 1);
    }

    #[test]
    fn schedule_errors_are_found_once_typing_pauses_at_the_schedule_line() {
        let text = litmus_of("seed-mprotect-vs-migration-v6.4.json");
        let lines: Vec<&str> = text.lines().collect();
        let second = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.starts_with("schedule "))
            .nth(1)
            .unwrap()
            .0;
        let (head, _) = lines[second].split_once(" = ").unwrap();
        let bad = text.replacen(lines[second], &format!("{head} = [7]"), 1);
        let sc = analyse(&bad).expect("the schedules are not replayed while typing");
        let e = check_schedules(&bad, &sc).unwrap_err();
        assert!(e.message.starts_with("schedules[1].steps[0]"), "{e:?}");
        assert_eq!(e.line, second + 1, "{e:?}");
        assert!(check_schedules(&text, &analyse(&text).unwrap()).is_ok());
    }

    #[test]
    fn editing_the_initial_state_reloads_at_the_same_step() {
        let a = App::from_library("mprotect-basic.json", None)
            .unwrap()
            .apply(Action::Jump(3));
        let text = litmus_of("mprotect-basic.json").replace("data 0x", "data 0x7");
        let sc = analyse(&text).unwrap();
        let b = reload(&a, sc.clone()).unwrap();
        assert_eq!(b.cursor, 3);
        assert_eq!(*b.scenario, sc);
        assert_ne!(b.initial.state_hash(), a.initial.state_hash());
    }
}
