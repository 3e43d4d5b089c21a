//! Authoring logic, free of the DOM so that it is tested natively: the library gallery's
//! entries and search, the litmus editor's syntax highlighting and its errors placed at a
//! line, and "record" (save the schedule on screen into the scenario) and narration notes.
//! The views that use it are `gallery.rs` and `editor.rs`.

use sim_core::flags;
use sim_core::link::Link;
use sim_core::litmus;
use sim_core::ops::{Listing, OpInfo, OpSpec, REGISTRY};
use sim_core::scenario::{Expectation, NamedSchedule, Steps};
use sim_core::Scenario;
use sim_core::{condition, lex};

use crate::state::{self, App};

// ------------------------------------------------------------------------------ gallery

/// What a shipped scenario's named schedules are expected to show (checked for every
/// shipped schedule by `sim-core/tests/scenarios.rs`). This is about the named schedules
/// only, not about all interleavings; that is [`Exhaustive`], shown next to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Some named schedule is expected to break these invariants.
    Violates(Vec<String>),
    /// Every schedule with an expectation (this many) is expected to be safe.
    Safe(usize),
    /// No schedule states an expectation.
    Unstated,
}

impl Verdict {
    pub fn label(&self) -> String {
        match self {
            Verdict::Violates(v) => format!("expected: violates {}", v.join(", ")),
            Verdict::Safe(1) => "expected: safe (its schedule)".to_string(),
            Verdict::Safe(n) => format!("expected: safe ({n} schedules)"),
            Verdict::Unstated => "no expectation stated".to_string(),
        }
    }
}

/// What the exhaustive explorer says about a shipped scenario under `mmrace check`'s default
/// options: the committed table `assets/verdicts.json`, kept equal to the explorer by
/// `sim-core/tests/verdicts.rs`. The page cannot afford to explore ~20 scenarios itself
/// (seconds each for the THP ones), so it shows this table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exhaustive {
    /// Every reachable state was visited: no violation means safe in every interleaving.
    pub complete: bool,
    pub states: usize,
    /// (invariant, steps of a shortest counterexample), sorted by invariant.
    pub violated: Vec<(String, usize)>,
    /// The scenario's condition, decided: `Some(Some(true))` holds, `Some(Some(false))` does
    /// not, `Some(None)` undecided within the budget; `None` when it has no condition.
    pub condition: Option<Option<bool>>,
}

impl Exhaustive {
    pub fn label(&self) -> String {
        if !self.violated.is_empty() {
            let v: Vec<String> = self
                .violated
                .iter()
                .map(|(id, k)| format!("{id} ({k} step{})", if *k == 1 { "" } else { "s" }))
                .collect();
            format!("violated: {}", v.join(", "))
        } else if self.complete {
            format!("all interleavings: safe · {} states", self.states)
        } else {
            format!("no violation in {} states (search incomplete)", self.states)
        }
    }

    /// The badge's CSS class after `verdict`: `bad`, `ok` or `budget`.
    pub fn class(&self) -> &'static str {
        if !self.violated.is_empty() {
            "bad"
        } else if self.complete {
            "ok"
        } else {
            "budget"
        }
    }
}

/// `assets/verdicts.json`, embedded: the explorer never runs for the gallery.
const VERDICTS: &str = include_str!("../../assets/verdicts.json");

/// Parse a verdicts table (`{path: {"complete", "states", "violated": {invariant: length}}}`)
/// through `serde_json::Value`, which the app links anyway: derives would grow the wasm (so
/// would a map type: ~20 rows are looked up linearly).
pub fn parse_verdicts(text: &str) -> Result<Vec<(String, Exhaustive)>, String> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("verdicts: {e}"))?;
    let table = v.as_object().ok_or("verdicts: not an object")?;
    let mut out = Vec::with_capacity(table.len());
    for (path, e) in table {
        let field = |name: &str| {
            e.get(name)
                .ok_or_else(|| format!("verdicts: {path}: missing field `{name}`"))
        };
        let complete = field("complete")?
            .as_bool()
            .ok_or_else(|| format!("verdicts: {path}: `complete` is not a boolean"))?;
        let states = field("states")?
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| format!("verdicts: {path}: `states` is not a count"))?;
        let violated = field("violated")?
            .as_object()
            .ok_or_else(|| format!("verdicts: {path}: `violated` is not an object"))?
            .iter()
            .map(|(id, k)| {
                k.as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .map(|k| (id.clone(), k))
                    .ok_or_else(|| format!("verdicts: {path}: `violated.{id}` is not a length"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let condition = match e.get("condition") {
            None => None,
            Some(c) => Some(
                c.get("holds")
                    .filter(|h| !h.is_null())
                    .map(|h| {
                        h.as_bool().ok_or_else(|| {
                            format!("verdicts: {path}: `condition.holds` is not a boolean")
                        })
                    })
                    .transpose()?,
            ),
        };
        out.push((
            path.clone(),
            Exhaustive {
                complete,
                states,
                violated,
                condition,
            },
        ));
    }
    Ok(out)
}

/// The operation filters of the gallery, one per operation file (`sim_core::ops::Listing`):
/// (label, the operations it matches).
pub fn op_filters() -> Vec<(&'static str, Vec<&'static str>)> {
    Listing::ALL
        .iter()
        .map(|l| {
            let ops = REGISTRY
                .iter()
                .filter(|r| r.listing == *l)
                .map(|r| r.name)
                .collect();
            (l.name(), ops)
        })
        .collect()
}

/// One card of the library page.
#[derive(Clone, Debug)]
pub struct GalleryEntry {
    pub path: &'static str,
    pub title: String,
    /// The description's first sentence.
    pub summary: String,
    /// `v6.4`, `v6.4 + restore-from-stale-entry`.
    pub kernel: String,
    pub hypothetical: bool,
    /// A historical variant (a real kernel before a fix).
    pub historical: bool,
    /// Operation kinds used by some thread (`mprotect`, `read`, ...), sorted.
    pub ops: Vec<&'static str>,
    /// Invariants some schedule's expectation names.
    pub invariants: Vec<String>,
    pub verdict: Verdict,
    /// The exhaustive explorer's verdict (`assets/verdicts.json`); `None` only if the table
    /// lacks the scenario, which a test rules out for the shipped library.
    pub exhaustive: Option<Exhaustive>,
    pub schedules: usize,
    /// The scenario's condition (`exists any (...)`), if it has one.
    pub condition: Option<String>,
}

/// The first sentence of `text` (at most about 200 characters).
pub fn first_sentence(text: &str) -> String {
    let t = text.trim();
    let end = t
        .char_indices()
        .find(|&(i, c)| c == '.' && t[i + 1..].starts_with(char::is_whitespace))
        .map(|(i, _)| i + 1)
        .unwrap_or(t.len());
    let s = &t[..end];
    if s.chars().count() > 200 {
        let cut: String = s.chars().take(199).collect();
        format!("{}…", cut.trim_end())
    } else {
        s.to_string()
    }
}

/// What-if descriptions open with the same disclaimer, which the card's kernel badge
/// already shows: the summary is the sentence after it.
fn skip_disclaimer(text: &str) -> &str {
    let t = text.trim_start();
    if t.starts_with("Hypothetical kernel") {
        if let Some(i) = t.find(". ") {
            return &t[i + 2..];
        }
    }
    t
}

impl GalleryEntry {
    pub fn of(path: &'static str, sc: &Scenario) -> GalleryEntry {
        let mut kernel = sc.kernel.version.name().to_string();
        for m in &sc.kernel.what_if {
            kernel.push_str(" + ");
            kernel.push_str(m.id());
        }
        for h in &sc.kernel.historical {
            kernel.push_str(" + historical ");
            kernel.push_str(h.id());
        }
        let mut ops: Vec<&'static str> = sc
            .threads
            .iter()
            .flat_map(|t| t.ops.iter().map(OpSpec::name))
            .collect();
        ops.sort_unstable();
        ops.dedup();
        let mut invariants = Vec::new();
        let mut safe = 0;
        for s in &sc.schedules {
            match &s.expect {
                Some(Expectation::Violates { invariant, .. })
                    if !invariants.contains(invariant) =>
                {
                    invariants.push(invariant.clone());
                }
                Some(Expectation::Violates { .. }) => {}
                Some(Expectation::Safe) => safe += 1,
                None => {}
            }
        }
        let verdict = if !invariants.is_empty() {
            Verdict::Violates(invariants.clone())
        } else if safe > 0 {
            Verdict::Safe(safe)
        } else {
            Verdict::Unstated
        };
        GalleryEntry {
            path,
            title: sc.title.clone(),
            summary: first_sentence(skip_disclaimer(&sc.description)),
            kernel,
            hypothetical: !sc.kernel.what_if.is_empty(),
            historical: !sc.kernel.historical.is_empty(),
            ops,
            invariants,
            verdict,
            exhaustive: None,
            schedules: sc.schedules.len(),
            condition: sc.condition.as_ref().map(|c| c.to_string()),
        }
    }

    /// Does the entry pass the filters? `query` is matched (case-insensitively, every word)
    /// against the title, summary, kernel and file name; `op` is an [`op_filters`] label;
    /// `invariant` an invariant id.
    pub fn matches(&self, query: &str, op: &str, invariant: &str) -> bool {
        if !op.is_empty() {
            let filters = op_filters();
            let kinds = filters
                .iter()
                .find(|(l, _)| *l == op)
                .map_or(&[][..], |(_, k)| k.as_slice());
            if !self.ops.iter().any(|o| kinds.contains(o)) {
                return false;
            }
        }
        if !invariant.is_empty()
            && !self.invariants.iter().any(|i| i == invariant)
            && !self.exhaustive_violations().any(|i| i == invariant)
        {
            return false;
        }
        let hay = format!(
            "{} {} {} {} {} {} {}",
            self.title,
            self.summary,
            self.kernel,
            self.path,
            self.invariants.join(" "),
            self.exhaustive_violations().collect::<Vec<_>>().join(" "),
            self.condition.as_deref().unwrap_or("")
        )
        .to_ascii_lowercase();
        query
            .split_whitespace()
            .all(|w| hay.contains(&w.to_ascii_lowercase()))
    }

    /// The condition badge: (CSS class, words), when the scenario has a condition.
    pub fn condition_badge(&self) -> Option<(&'static str, String)> {
        let text = self.condition.as_ref()?;
        let holds = self.exhaustive.as_ref().and_then(|x| x.condition);
        Some(match holds {
            Some(Some(true)) => ("ok", format!("condition holds: {text}")),
            Some(Some(false)) => ("bad", format!("condition fails: {text}")),
            _ => ("budget", format!("condition undecided: {text}")),
        })
    }

    /// The invariants the exhaustive explorer found violated.
    pub fn exhaustive_violations(&self) -> impl Iterator<Item = &str> {
        self.exhaustive
            .iter()
            .flat_map(|x| x.violated.iter().map(|(id, _)| id.as_str()))
    }
}

/// Every shipped scenario (the `bench/` scaling scenarios are not stories to open, so they
/// are left out), in the library's order.
pub fn gallery() -> Vec<GalleryEntry> {
    // The table is checked by a native test; a broken one shows cards without the badge.
    let verdicts = parse_verdicts(VERDICTS).unwrap_or_default();
    state::library()
        .iter()
        .filter(|(p, _)| !p.starts_with("bench/"))
        .filter_map(|(p, json)| {
            let mut e = GalleryEntry::of(p, &Scenario::from_json(json).ok()?);
            e.exhaustive = verdicts
                .iter()
                .find(|(v, _)| v == p)
                .map(|(_, x)| x.clone());
            Some(e)
        })
        .collect()
}

/// The invariants named by some entry's expectations or violated in its exhaustive verdict,
/// sorted.
pub fn gallery_invariants(entries: &[GalleryEntry]) -> Vec<String> {
    let mut v: Vec<String> = entries
        .iter()
        .flat_map(|e| {
            e.invariants
                .iter()
                .cloned()
                .chain(e.exhaustive_violations().map(str::to_string))
        })
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

// ------------------------------------------------------------------------------ highlighting

/// The class of a highlighted token (also its CSS class suffix: `tok-kw`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tok {
    Keyword,
    Op,
    Flag,
    Number,
    Str,
    Comment,
    Punct,
    Word,
    Space,
}

impl Tok {
    pub fn class(self) -> &'static str {
        match self {
            Tok::Keyword => "tok-kw",
            Tok::Op => "tok-op",
            Tok::Flag => "tok-flag",
            Tok::Number => "tok-num",
            Tok::Str => "tok-str",
            Tok::Comment => "tok-com",
            Tok::Punct => "tok-punct",
            Tok::Word => "tok-word",
            Tok::Space => "",
        }
    }
}

/// Whether `w` is a registered operation's name.
fn is_op(w: &str) -> bool {
    OpInfo::get(w).is_some()
}

/// Whether `w` is a word of an operation's field leads (`pfn` in `-> pfn`).
fn is_lead_word(w: &str) -> bool {
    REGISTRY
        .iter()
        .flat_map(|r| r.fields)
        .any(|f| f.lead.split_whitespace().any(|p| p == w))
}

fn classify_word(w: &str) -> Tok {
    if litmus::KEYWORDS.contains(&w) || condition::KEYWORDS.contains(&w) || is_lead_word(w) {
        Tok::Keyword
    } else if is_op(w) {
        Tok::Op
    } else if w.starts_with("PROT_")
        || w.starts_with("VM_")
        || w.starts_with("_PAGE_")
        || litmus::ATTRIBUTES.contains(&w)
    {
        Tok::Flag
    } else {
        Tok::Word
    }
}

/// Split one line into highlighted tokens; concatenated they give the line back exactly.
/// Only colours: the parser decides what is valid.
pub fn highlight_line(line: &str) -> Vec<(Tok, &str)> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        let (tok, n) = if c == '#' {
            (Tok::Comment, rest.len())
        } else if c == '"' {
            (Tok::Str, lex::string_len(rest).0)
        } else if matches!(c, ' ' | '\t' | '\r') {
            let n = rest
                .find(|c| !matches!(c, ' ' | '\t' | '\r'))
                .unwrap_or(rest.len());
            (Tok::Space, n)
        } else if lex::number_len(rest) > 0 {
            (Tok::Number, lex::number_len(rest))
        } else if lex::word_len(rest) > 0 {
            let n = lex::word_len(rest);
            (classify_word(&rest[..n]), n)
        } else if rest.starts_with("->") {
            (Tok::Punct, 2)
        } else {
            (Tok::Punct, c.len_utf8())
        };
        out.push((tok, &rest[..n]));
        rest = &rest[n..];
    }
    out
}

fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

/// The editor's highlighted text and its gutter as HTML (escaped here; built as one string
/// because a virtual node per token costs far more wasm and time than it buys): each line a
/// `span.ed-line[data-line]`, the error's line marked and followed by its message.
pub fn highlight_html(text: &str, err: Option<&LineError>) -> (String, String) {
    let lines: Vec<&str> = text.split('\n').collect();
    let err_line = err.map(|e| e.line.clamp(1, lines.len()));
    let mut pre = String::with_capacity(text.len() * 3);
    let mut gutter = String::with_capacity(lines.len() * 30);
    for (i, l) in lines.iter().enumerate() {
        let n = i + 1;
        let bad = Some(n) == err_line;
        let cls = if bad { " ed-error-line" } else { "" };
        pre.push_str(&format!("<span class=\"ed-line{cls}\" data-line=\"{n}\">"));
        for (t, s) in highlight_line(l) {
            if t == Tok::Space {
                escape_into(&mut pre, s);
            } else {
                pre.push_str(&format!("<span class=\"{}\">", t.class()));
                escape_into(&mut pre, s);
                pre.push_str("</span>");
            }
        }
        if let Some(e) = err.filter(|_| bad) {
            // The message stays on the line (a wrapped one would shift the lines below under
            // the transparent textarea), shortened so that it does not run far past the
            // edge; the status line above the editor and the tooltip carry it whole.
            pre.push_str("<span class=\"ed-msg\" data-line=\"");
            pre.push_str(&n.to_string());
            pre.push_str("\" title=\"");
            escape_into(&mut pre, &e.message);
            pre.push_str("\">  ✗ ");
            escape_into(&mut pre, &inline_message(&e.message, l.chars().count()));
            pre.push_str("</span>");
        }
        pre.push_str("</span>\n");
        let gcls = if bad { " error" } else { "" };
        gutter.push_str(&format!("<div class=\"ed-ln{gcls}\">{n}</div>"));
    }
    (pre, gutter)
}

/// The inline error after a line of `line_len` characters: cut (at a word, with "…") so that
/// line and message fit [`INLINE_WIDTH`] characters, but never below 24 characters of message.
pub fn inline_message(message: &str, line_len: usize) -> String {
    let room = INLINE_WIDTH.saturating_sub(line_len + 4).max(24);
    if message.chars().count() <= room {
        return message.to_string();
    }
    let cut: String = message.chars().take(room - 1).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > room / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end())
}

/// The editor's width in characters that inline errors aim to stay within (the Author panel
/// at 1280 px shows about this many columns of 12 px monospace).
pub const INLINE_WIDTH: usize = 72;

// ------------------------------------------------------------------------------ errors at a line

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
            if let Some((l, _)) = stmts[at + 1..].iter().take_while(|(_, w)| is_op(w)).nth(j) {
                return *l;
            }
        }
    }
    stmts[at].0
}

// ------------------------------------------------------------------------------ reloading

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

// ------------------------------------------------------------------------------ record, notes

/// Is `name` usable as a schedule name (what the litmus format and the limits take)?
pub fn check_schedule_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("Name the schedule first.".into());
    }
    if name.chars().count() > 64 {
        return Err("A schedule name has at most 64 characters.".into());
    }
    if name.chars().any(char::is_control) {
        return Err("A schedule name cannot contain control characters.".into());
    }
    Ok(())
}

/// "Record": save the schedule on screen into the scenario under `name`, and follow it from
/// now on. The cursor stays where it is. Saving under the name of the schedule being
/// followed updates it (its notes are kept for the steps that still exist); any other
/// schedule's name is refused, so a recording never silently replaces someone's schedule.
pub fn save_schedule(app: &App, name: &str) -> Result<App, String> {
    let name = name.trim();
    check_schedule_name(name)?;
    if app.schedule.is_empty() {
        return Err("Nothing to save yet: step some threads first (click a thread).".into());
    }
    let following = app.named.as_ref().map(|n| n.name.as_str());
    if following != Some(name) && app.scenario.schedule(name).is_some() {
        return Err(format!(
            "Schedule name: \"{name}\" is another schedule of this scenario; choose a new name \
             (to update \"{name}\", open it from the schedule menu and record over it)."
        ));
    }
    let mut sc = (*app.scenario).clone();
    let steps = (*app.schedule).clone();
    match sc.schedules.iter_mut().find(|s| s.name == name) {
        Some(s) => {
            s.steps = Steps::List(steps.clone());
            s.notes.retain(|k, _| *k < steps.len());
            // A recorded schedule is not the one whose expectation was checked.
            s.expect = None;
        }
        None => {
            if sc.schedules.len() >= 64 {
                return Err("The scenario already has 64 schedules.".into());
            }
            sc.schedules.push(NamedSchedule {
                name: name.to_string(),
                description: String::new(),
                steps: Steps::List(steps.clone()),
                expect: None,
                notes: sim_core::vec_map::VecMap::new(),
            });
        }
    }
    rebuild(app, sc, name)
}

/// The named schedule whose step is on screen, if notes can attach to it: the schedule
/// still follows it up to the cursor, and a step has been taken.
pub fn note_target(app: &App) -> Option<(&str, usize)> {
    let n = app.named.as_ref()?;
    let k = app.cursor.checked_sub(1)?;
    (k < app.named_prefix).then_some((n.name.as_str(), k))
}

/// Attach `text` as the note of the step on screen (empty removes it).
pub fn set_note(app: &App, text: &str) -> Result<App, String> {
    let Some((name, k)) = note_target(app) else {
        return Err(if app.cursor == 0 {
            "Notes attach to a step: step forward first.".into()
        } else {
            "Notes attach to a step of a saved schedule: save this schedule first.".into()
        });
    };
    let name = name.to_string();
    let mut sc = (*app.scenario).clone();
    let s = sc
        .schedules
        .iter_mut()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("the scenario has no schedule `{name}`"))?;
    let text = text.trim();
    if text.is_empty() {
        s.notes.remove(&k);
    } else {
        s.notes.insert(k, text.to_string());
    }
    rebuild(app, sc, &name)
}

/// The app for the changed scenario with the same schedule on screen, now following `name`.
fn rebuild(app: &App, sc: Scenario, name: &str) -> Result<App, String> {
    sc.build().map_err(|e| e.to_string())?;
    let mut l = Link::new(sc, (*app.schedule).clone(), app.cursor);
    l.schedule_name = Some(name.to_string());
    let mut next = App::from_link(l)?;
    next.read_only = app.read_only;
    next.selected = app.selected;
    Ok(next)
}

// ------------------------------------------------------------------------------ builder

/// A part of the scenario the builder lists and can remove.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Vma(usize),
    Page(usize),
    Thp(usize),
    Tlb(usize),
    Thread(usize),
    /// (thread, operation)
    Op(usize, usize),
}

/// The builder's list: (part, label), in the order the text has them.
pub fn parts(sc: &Scenario) -> Vec<(Part, String)> {
    let mut v = Vec::new();
    for (i, x) in sc.vmas.iter().enumerate() {
        v.push((
            Part::Vma(i),
            format!("vma {}-{} {}", x.start, x.end, flags::prot_name(x.prot.0)),
        ));
    }
    for (i, x) in sc.pages.iter().enumerate() {
        v.push((Part::Page(i), format!("page {} -> pfn {}", x.addr, x.pfn)));
    }
    for (i, x) in sc.thps.iter().enumerate() {
        v.push((Part::Thp(i), format!("thp {} -> pfn {}", x.addr, x.pfn)));
    }
    for (i, x) in sc.tlb.iter().enumerate() {
        v.push((Part::Tlb(i), format!("tlb cpu {} caches {}", x.cpu, x.addr)));
    }
    for (i, t) in sc.threads.iter().enumerate() {
        v.push((
            Part::Thread(i),
            format!("T{i} “{}” on cpu {}", t.name, t.cpu),
        ));
        for (j, op) in t.ops.iter().enumerate() {
            v.push((Part::Op(i, j), format!("  {}", litmus::print_op(op))));
        }
    }
    v
}

impl Part {
    /// The `data-remove` value of its remove button.
    pub fn key(self) -> String {
        match self {
            Part::Vma(i) => format!("vma:{i}"),
            Part::Page(i) => format!("page:{i}"),
            Part::Thp(i) => format!("thp:{i}"),
            Part::Tlb(i) => format!("tlb:{i}"),
            Part::Thread(i) => format!("thread:{i}"),
            Part::Op(t, j) => format!("op:{t}:{j}"),
        }
    }

    pub fn parse(key: &str) -> Option<Part> {
        let mut it = key.split(':');
        let kind = it.next()?;
        let a: usize = it.next()?.parse().ok()?;
        let b: Option<usize> = it.next().and_then(|x| x.parse().ok());
        Some(match (kind, b) {
            ("vma", None) => Part::Vma(a),
            ("page", None) => Part::Page(a),
            ("thp", None) => Part::Thp(a),
            ("tlb", None) => Part::Tlb(a),
            ("thread", None) => Part::Thread(a),
            ("op", Some(b)) => Part::Op(a, b),
            _ => return None,
        })
    }
}

/// The builder's forms (static but for the thread choice). One HTML string, handled by one
/// delegated click listener: far less wasm than a virtual node and a callback per control.
const BUILDER_FORMS: &str = concat!(
    r#"<div class="row">VMA <input id="b-vma-start" type="text" placeholder="start" aria-label="VMA start">"#,
    r#"<input id="b-vma-end" type="text" placeholder="end" aria-label="VMA end">"#,
    r#"<input id="b-vma-prot" type="text" value="PROT_READ|PROT_WRITE" aria-label="VMA protection">"#,
    r#"<button id="b-add-vma" data-add="vma">Add VMA</button></div>"#,
    r#"<div class="row"><select id="b-page-kind" aria-label="page or THP"><option value="page" selected>page</option><option value="thp">THP</option></select>"#,
    r#"<input id="b-page-addr" type="text" placeholder="address" aria-label="page address">"#,
    r#"<input id="b-page-pfn" type="text" placeholder="pfn" aria-label="pfn">"#,
    r#"<input id="b-page-data" type="text" placeholder="data" aria-label="data">"#,
    r#"<button id="b-add-page" data-add="page">Add</button></div>"#,
    r#"<div class="row">TLB <input id="b-tlb-cpu" type="text" placeholder="cpu" aria-label="TLB cpu">"#,
    r#"<input id="b-tlb-addr" type="text" placeholder="address" aria-label="cached address">"#,
    r#"<button id="b-add-tlb" data-add="tlb">Add TLB entry</button></div>"#,
    r#"<div class="row">thread <input id="b-thread-name" type="text" placeholder="name" aria-label="thread name">"#,
    r#"<input id="b-thread-cpu" type="text" value="0" aria-label="thread cpu">"#,
    r#"<button id="b-add-thread" data-add="thread">Add thread</button></div>"#,
);

/// How many field inputs the operation form has: as many as the operation with the most.
pub fn op_form_slots() -> usize {
    REGISTRY.iter().map(|r| r.fields.len()).max().unwrap_or(0)
}

/// The operation form, derived from the registered operations: a choice of operation, then
/// one input per field position (`b-op-0`, `b-op-1`, ...), each saying what it holds for the
/// operations that have it ("length / target pfn / value").
fn builder_op_form(h: &mut String) {
    h.push_str(r#"<select id="b-op-kind" aria-label="operation">"#);
    for (i, r) in REGISTRY.iter().enumerate() {
        let sel = if i == 0 { " selected" } else { "" };
        h.push_str(&format!(r#"<option value="{0}"{sel}>{0}</option>"#, r.name));
    }
    h.push_str("</select>");
    for slot in 0..op_form_slots() {
        let mut labels: Vec<&str> = Vec::new();
        for r in REGISTRY {
            if let Some(f) = r.fields.get(slot) {
                if !labels.contains(&f.label) {
                    labels.push(f.label);
                }
            }
        }
        let placeholder = labels.join(" / ");
        h.push_str(&format!(
            r#"<input id="b-op-{slot}" type="text" placeholder="{placeholder}" aria-label="operation {placeholder}">"#
        ));
    }
    h.push_str(r#"<button id="b-add-op" data-add="op">Add operation</button></div>"#);
}

/// The builder's inner HTML: the parts with their remove buttons, then the forms.
pub fn builder_html(sc: &Scenario) -> String {
    let mut h = String::from("<ul class=\"parts\">");
    for (part, label) in parts(sc) {
        h.push_str("<li><code>");
        escape_into(&mut h, &label);
        h.push_str(&format!(
            "</code><button class=\"remove-part\" data-remove=\"{}\" title=\"Remove\" aria-label=\"Remove\">✕</button></li>",
            part.key()
        ));
    }
    h.push_str("</ul>");
    h.push_str(BUILDER_FORMS);
    h.push_str("<div class=\"row\"><select id=\"b-op-thread\" aria-label=\"thread\">");
    for (i, t) in sc.threads.iter().enumerate() {
        h.push_str(&format!("<option value=\"{i}\">T{i} "));
        escape_into(&mut h, &t.name);
        h.push_str("</option>");
    }
    h.push_str("</select>");
    builder_op_form(&mut h);
    h
}

/// A form field: `name` for the error, `value` as typed. One token of the text format, so
/// nothing typed into a field can add statements.
fn field<'a>(name: &str, value: &'a str) -> Result<&'a str, String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(format!("{name}: fill it in"));
    }
    if let Some(c) = v
        .chars()
        .find(|c| matches!(c, ';' | '#' | '{' | '}' | '"') || c.is_control())
    {
        return Err(format!("{name}: `{c}` is not allowed here"));
    }
    Ok(v)
}

/// What the builder's forms add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Add {
    Vma {
        start: String,
        end: String,
        prot: String,
    },
    /// A 4 KiB page (`thp: false`) or a PMD-mapped THP.
    Page {
        thp: bool,
        addr: String,
        pfn: String,
        data: String,
    },
    Tlb {
        cpu: String,
        addr: String,
    },
    Thread {
        name: String,
        cpu: String,
    },
    /// `kind` is a registered operation's name; `fields` its field values as typed, in the
    /// order of its fields (extra ones are ignored).
    Op {
        thread: usize,
        kind: String,
        fields: Vec<String>,
    },
}

/// The litmus statement for a form (checked field by field).
fn statement(a: &Add) -> Result<String, String> {
    Ok(match a {
        Add::Vma { start, end, prot } => format!(
            "vma {}-{} {}",
            field("start", start)?,
            field("end", end)?,
            field("protection", prot)?
        ),
        Add::Page {
            thp,
            addr,
            pfn,
            data,
        } => {
            let data = if data.trim().is_empty() {
                "0"
            } else {
                field("data", data)?
            };
            format!(
                "{} {} -> pfn {} data {data}",
                if *thp { "thp" } else { "page" },
                field("address", addr)?,
                field("pfn", pfn)?
            )
        }
        Add::Tlb { cpu, addr } => {
            format!(
                "tlb cpu {} caches {}",
                field("cpu", cpu)?,
                field("address", addr)?
            )
        }
        Add::Thread { name, cpu } => {
            let name = name.trim();
            if name.is_empty() {
                return Err("name: fill it in".into());
            }
            let cpu = if cpu.trim().is_empty() {
                "0"
            } else {
                field("cpu", cpu)?
            };
            format!(
                "thread {} on cpu {cpu} {{\n}}",
                serde_json::to_string(name).unwrap_or_default()
            )
        }
        Add::Op { kind, fields, .. } => {
            let Some(info) = OpInfo::get(kind) else {
                return Err(format!("operation: unknown kind `{kind}`"));
            };
            let mut s = info.name.to_string();
            for (i, f) in info.fields.iter().enumerate() {
                let v = field(f.label, fields.get(i).map_or("", String::as_str))?;
                s.push(' ');
                if !f.lead.is_empty() {
                    s.push_str(f.lead);
                    s.push(' ');
                }
                s.push_str(v);
            }
            s
        }
    })
}

/// Add what a form describes. The fields are read by the litmus parser (so they take what
/// the text takes: `0x1000`, `PROT_READ|PROT_WRITE`, ...) and the result is validated like
/// any scenario; errors name the field.
pub fn add(sc: &Scenario, a: &Add) -> Result<Scenario, String> {
    let stmt = statement(a)?;
    let mut next = match a {
        Add::Op { thread, .. } => {
            let t = *thread;
            if t >= sc.threads.len() {
                return Err(format!("thread: there is no thread {t}"));
            }
            let tiny = format!("mmrace v6.4\nthread \"t\" {{\n{stmt}\n}}");
            let op = litmus::parse(&tiny)
                .map_err(|e| {
                    format!(
                        "`{stmt}`: column {}: expected {}, found {}",
                        e.col, e.expected, e.found
                    )
                })?
                .threads
                .remove(0)
                .ops
                .remove(0);
            let mut next = sc.clone();
            next.threads[t].ops.push(op);
            next
        }
        _ => {
            let base = litmus::print(sc);
            let base_lines = base.lines().count();
            litmus::parse(&format!("{base}\n{stmt}\n")).map_err(|e| {
                if e.line > base_lines {
                    format!(
                        "`{stmt}`: column {}: expected {}, found {}",
                        e.col, e.expected, e.found
                    )
                } else {
                    e.to_string()
                }
            })?
        }
    };
    // The text form lists things by kind; keep the schedules (a new thread has no steps in
    // them, which is valid).
    next.schedules.clone_from(&sc.schedules);
    next.build().map_err(|e| e.to_string())?;
    Ok(next)
}

/// Remove a part. Removing a thread also removes the schedules, which name threads by
/// index; removing anything else keeps those that are still valid.
pub fn remove(sc: &Scenario, part: Part) -> Result<Scenario, String> {
    let mut next = sc.clone();
    let gone = match part {
        Part::Vma(i) => next
            .vmas
            .get(i)
            .is_some()
            .then(|| next.vmas.remove(i))
            .is_some(),
        Part::Page(i) => next
            .pages
            .get(i)
            .is_some()
            .then(|| next.pages.remove(i))
            .is_some(),
        Part::Thp(i) => next
            .thps
            .get(i)
            .is_some()
            .then(|| next.thps.remove(i))
            .is_some(),
        Part::Tlb(i) => next
            .tlb
            .get(i)
            .is_some()
            .then(|| next.tlb.remove(i))
            .is_some(),
        Part::Thread(i) => {
            let ok = i < next.threads.len();
            if ok {
                next.threads.remove(i);
                next.schedules.clear();
            }
            ok
        }
        Part::Op(t, j) => match next.threads.get_mut(t) {
            Some(th) if j < th.ops.len() => {
                th.ops.remove(j);
                true
            }
            _ => false,
        },
    };
    if !gone {
        return Err("that part no longer exists".into());
    }
    // Schedules that no longer replay (an operation removed under them) are dropped.
    let bare = Scenario {
        schedules: Vec::new(),
        ..next.clone()
    };
    if let Ok(m) = bare.build() {
        next.schedules.retain(|s| {
            s.resolve(&m)
                .is_ok_and(|steps| sim_core::scenario::check_schedule(&m, &steps).is_ok())
        });
    }
    next.build().map_err(|e| e.to_string())?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Action;

    #[test]
    fn gallery_lists_the_shipped_scenarios_with_their_expectations() {
        let g = gallery();
        assert!(g.len() >= 20, "{}", g.len());
        let c = g
            .iter()
            .find(|e| e.path == "whatif-c-restore-from-stale-entry-v6.4.json")
            .unwrap();
        assert_eq!(
            c.verdict,
            Verdict::Violates(vec!["writable-pte-in-readonly-vma".into()])
        );
        assert!(c.hypothetical);
        assert_eq!(c.kernel, "v6.4 + restore-from-stale-entry");
        assert!(c.ops.contains(&"migrate") && c.ops.contains(&"write"));
        assert!(c.summary.starts_with("The restorer reads"), "{}", c.summary);
        let seed = g
            .iter()
            .find(|e| e.path == "seed-mprotect-vs-migration-v6.4.json")
            .unwrap();
        assert!(matches!(seed.verdict, Verdict::Safe(n) if n >= 2));
        assert!(!seed.summary.is_empty() && seed.summary.len() <= 210);
        assert!(g.iter().all(|e| !e.path.starts_with("bench/")));
    }

    #[test]
    fn every_gallery_entry_has_its_exhaustive_verdict() {
        let table = parse_verdicts(VERDICTS).expect("assets/verdicts.json parses");
        let g = gallery();
        for e in &g {
            assert!(
                e.exhaustive.is_some(),
                "{} has no exhaustive verdict",
                e.path
            );
        }
        // And the table lists nothing else (a renamed scenario would leave a stale row).
        assert_eq!(table.len(), g.len());
        let seed = g
            .iter()
            .find(|e| e.path == "seed-mprotect-vs-migration-v6.4.json")
            .unwrap();
        let x = seed.exhaustive.as_ref().unwrap();
        assert!(x.complete && x.violated.is_empty() && x.states > 1);
        assert_eq!(x.class(), "ok");
        assert_eq!(
            x.label(),
            format!("all interleavings: safe · {} states", x.states)
        );
        let c = g
            .iter()
            .find(|e| e.path == "whatif-c-restore-from-stale-entry-v6.4.json")
            .unwrap();
        let x = c.exhaustive.as_ref().unwrap();
        assert_eq!(x.class(), "bad");
        let k = x
            .violated
            .iter()
            .find(|(id, _)| id == "writable-pte-in-readonly-vma")
            .map(|(_, k)| *k)
            .expect("what-if (c) on v6.4 breaks the read-only PTE invariant");
        assert!(x
            .label()
            .contains(&format!("writable-pte-in-readonly-vma ({k} steps)")));
        assert!(x.label().starts_with("violated: "));
        // Every scenario whose named schedules are expected to break an invariant is also
        // violated exhaustively (the explorer sees every schedule, the named ones included).
        for e in &g {
            if let Verdict::Violates(inv) = &e.verdict {
                for i in inv {
                    assert!(
                        e.exhaustive_violations().any(|v| v == i),
                        "{}: a named schedule violates {i}, the table does not",
                        e.path
                    );
                }
            }
        }
    }

    #[test]
    fn conditions_get_a_badge_from_the_table_and_are_searchable() {
        let g = gallery();
        let badge = |p: &str| g.iter().find(|e| e.path == p).unwrap().condition_badge();
        let (class, words) = badge("whatif-c-restore-from-stale-entry-v6.4.json").unwrap();
        assert_eq!(class, "ok");
        assert!(
            words.starts_with("condition holds: exists any (mprotect returned"),
            "{words}"
        );
        let (class, words) = badge("whatif-c-control-v6.4.json").unwrap();
        assert_eq!(
            (class, words.starts_with("condition holds: ~exists any (")),
            ("ok", true)
        );
        assert!(badge("whatif-e-control-v6.4.json").is_none());
        // Every entry with a condition has its decision in the table.
        for e in &g {
            if e.condition.is_some() {
                let x = e.exhaustive.as_ref().unwrap();
                assert!(
                    x.condition.is_some(),
                    "{}: no condition in the table",
                    e.path
                );
            }
        }
        let hits: Vec<_> = g
            .iter()
            .filter(|e| e.matches("tlb_writable", "", ""))
            .map(|e| e.path)
            .collect();
        assert_eq!(hits.len(), 3, "{hits:?}");
        let bad = parse_verdicts(
            r#"{"a.json": {"complete": true, "states": 2, "violated": {}, "condition": {"holds": 3}}}"#,
        )
        .unwrap_err();
        assert!(bad.contains("`condition.holds`"), "{bad}");
        let undecided = parse_verdicts(
            r#"{"a.json": {"complete": false, "states": 2, "violated": {}, "condition": {"holds": null}}}"#,
        )
        .unwrap();
        assert_eq!(undecided[0].1.condition, Some(None));
    }

    #[test]
    fn a_bad_verdicts_table_names_the_field() {
        let e = parse_verdicts(r#"{"a.json": {"complete": true, "violated": {}}}"#).unwrap_err();
        assert!(e.contains("a.json") && e.contains("`states`"), "{e}");
        let e = parse_verdicts(r#"{"a.json": {"complete": 1, "states": 2, "violated": {}}}"#)
            .unwrap_err();
        assert!(e.contains("`complete`"), "{e}");
        let e = parse_verdicts(
            r#"{"a.json": {"complete": true, "states": 2, "violated": {"x": "long"}}}"#,
        )
        .unwrap_err();
        assert!(e.contains("`violated.x`"), "{e}");
        assert!(parse_verdicts("[]").is_err());
        let ok = parse_verdicts(r#"{"a.json": {"complete": false, "states": 9, "violated": {}}}"#)
            .unwrap();
        assert_eq!(ok[0].0, "a.json");
        assert_eq!(ok[0].1.class(), "budget");
        assert_eq!(
            ok[0].1.label(),
            "no violation in 9 states (search incomplete)"
        );
    }

    #[test]
    fn the_invariant_filter_counts_exhaustive_violations() {
        let mut g = gallery();
        let names = gallery_invariants(&g);
        for e in &g {
            for v in e.exhaustive_violations() {
                assert!(names.iter().any(|n| n == v), "{v} missing from the filter");
            }
        }
        // An entry whose named schedules state nothing about an invariant still matches it
        // when the explorer found it violated.
        let e = g
            .iter_mut()
            .find(|e| e.path == "seed-mprotect-vs-migration-v6.4.json")
            .unwrap();
        assert!(!e.matches("", "", "lost-write"));
        e.exhaustive = Some(Exhaustive {
            complete: true,
            states: 3,
            violated: vec![("lost-write".into(), 4)],
            condition: None,
        });
        assert!(e.matches("", "", "lost-write"));
        assert!(e.matches("lost-write", "", ""));
        // Searching by invariant words still picks one what-if (the e2e test relies on it).
        let q: Vec<_> = gallery()
            .into_iter()
            .filter(|e| e.matches("stale entry (v6.4)", "", ""))
            .map(|e| e.path)
            .collect();
        assert_eq!(q, ["whatif-c-restore-from-stale-entry-v6.4.json"]);
    }

    #[test]
    fn gallery_search_by_operation_invariant_and_text() {
        let g = gallery();
        let split: Vec<_> = g
            .iter()
            .filter(|e| e.matches("", "split_huge_pmd", ""))
            .collect();
        assert!(!split.is_empty());
        assert!(split.iter().all(|e| e.ops.contains(&"split_huge_pmd")));
        assert!(split.len() < g.len());
        let lost: Vec<_> = g
            .iter()
            .filter(|e| e.matches("", "", "lost-write"))
            .collect();
        assert!(lost.iter().all(|e| e.path.starts_with("whatif-e-")));
        assert_eq!(lost.len(), 2);
        let q: Vec<_> = g
            .iter()
            .filter(|e| e.matches("What-if (c) V6.3", "", ""))
            .map(|e| e.path)
            .collect();
        assert_eq!(q, ["whatif-c-restore-from-stale-entry-v6.3.json"]);
        assert!(g.iter().all(|e| !e.matches("no-such-word", "", "")));
    }

    /// The builder's operation form and the highlighter are derived from the registered
    /// operations: each one can be chosen, filled in field by field and highlighted.
    #[test]
    fn every_registered_operation_has_a_form_and_is_highlighted() {
        let html = builder_html(&App::default_scenario());
        for info in REGISTRY {
            assert!(
                html.contains(&format!("<option value=\"{}\"", info.name)),
                "{}",
                info.name
            );
            let fields: Vec<String> = info
                .fields
                .iter()
                .map(|f| match f.kind {
                    sim_core::ops::Kind::Number => "0x7f0000001000".to_string(),
                    sim_core::ops::Kind::Prot => "PROT_READ".to_string(),
                })
                .collect();
            let stmt = statement(&Add::Op {
                thread: 0,
                kind: info.name.into(),
                fields,
            })
            .unwrap();
            let sc = litmus::parse(&format!("mmrace v6.4\nthread \"t\" {{\n{stmt}\n}}")).unwrap();
            assert_eq!(sc.threads[0].ops[0].name(), info.name, "{stmt}");
            let toks = highlight_line(&stmt);
            assert_eq!(toks[0], (Tok::Op, info.name), "{stmt}");
            for f in info.fields {
                for w in f
                    .lead
                    .split_whitespace()
                    .filter(|w| w.starts_with(char::is_alphabetic))
                {
                    assert!(toks.contains(&(Tok::Keyword, w)), "{stmt}: {toks:?}");
                }
                assert!(
                    html.contains(f.label),
                    "{}: no input for {}",
                    info.name,
                    f.label
                );
            }
            let missing = statement(&Add::Op {
                thread: 0,
                kind: info.name.into(),
                fields: Vec::new(),
            })
            .unwrap_err();
            assert_eq!(missing, format!("{}: fill it in", info.fields[0].label));
        }
    }

    #[test]
    fn highlighting_covers_the_line_exactly() {
        let line = "vma 0x7f0000000000-0x7f0000001000 PROT_READ|PROT_WRITE \"a;b\" # c \"d\"";
        let toks = highlight_line(line);
        let back: String = toks.iter().map(|(_, s)| *s).collect();
        assert_eq!(back, line);
        let kinds: Vec<(Tok, &str)> = toks.into_iter().filter(|(t, _)| *t != Tok::Space).collect();
        assert_eq!(kinds[0], (Tok::Keyword, "vma"));
        assert_eq!(kinds[1], (Tok::Number, "0x7f0000000000"));
        assert_eq!(kinds[2], (Tok::Punct, "-"));
        assert_eq!(kinds[4], (Tok::Flag, "PROT_READ"));
        assert_eq!(kinds[7], (Tok::Str, "\"a;b\""));
        assert_eq!(kinds[8], (Tok::Comment, "# c \"d\""));
        let t = highlight_line("  migrate 0x1000 -> pfn 0x2 ; é");
        assert_eq!(
            t.iter().map(|(_, s)| *s).collect::<String>(),
            "  migrate 0x1000 -> pfn 0x2 ; é"
        );
        assert!(t.contains(&(Tok::Op, "migrate")) && t.contains(&(Tok::Punct, "->")));
    }

    #[test]
    fn the_builder_adds_and_removes_parts_and_names_the_bad_field() {
        let sc = App::default_scenario();
        let v = add(
            &sc,
            &Add::Vma {
                start: "0x7f0000100000".into(),
                end: "0x7f0000102000".into(),
                prot: "PROT_READ|PROT_WRITE".into(),
            },
        )
        .unwrap();
        assert_eq!(v.vmas.len(), sc.vmas.len() + 1);
        assert_eq!(v.schedules, sc.schedules);
        let p = add(
            &v,
            &Add::Page {
                thp: false,
                addr: "0x7f0000100000".into(),
                pfn: "0x50000".into(),
                data: "".into(),
            },
        )
        .unwrap();
        assert_eq!(p.pages.len(), sc.pages.len() + 1);
        let t = add(
            &p,
            &Add::Thread {
                name: "reader".into(),
                cpu: "1".into(),
            },
        )
        .unwrap();
        let n = t.threads.len() - 1;
        let o = add(
            &t,
            &Add::Op {
                thread: n,
                kind: "read".into(),
                fields: vec!["0x7f0000100000".into()],
            },
        )
        .unwrap();
        assert_eq!(o.threads[n].ops.len(), 1);
        assert!(
            litmus::print(&o).contains("thread \"reader\" on cpu 1 {\n  read 0x7f0000100000\n}")
        );
        // Bad input: errors name the field or the statement.
        let e = add(
            &sc,
            &Add::Vma {
                start: "".into(),
                end: "1".into(),
                prot: "1".into(),
            },
        )
        .unwrap_err();
        assert!(e.starts_with("start:"), "{e}");
        let e = add(
            &sc,
            &Add::Vma {
                start: "0x1000; cpus 3".into(),
                end: "1".into(),
                prot: "1".into(),
            },
        )
        .unwrap_err();
        assert!(e.starts_with("start: `;`"), "{e}");
        let e = add(
            &sc,
            &Add::Vma {
                start: "0x7f0000100000".into(),
                end: "zz".into(),
                prot: "PROT_READ".into(),
            },
        )
        .unwrap_err();
        assert!(e.contains("found \"zz\""), "{e}");
        let e = add(
            &sc,
            &Add::Page {
                thp: false,
                addr: "0x1000".into(),
                pfn: "0x50000".into(),
                data: "".into(),
            },
        )
        .unwrap_err();
        assert!(e.starts_with("pages[2]"), "a page outside any VMA: {e}");
        let e = add(
            &t,
            &Add::Op {
                thread: 9,
                kind: "read".into(),
                fields: vec!["0x1".into()],
            },
        )
        .unwrap_err();
        assert!(e.starts_with("thread:"), "{e}");
        // Removing: the op, then the thread (and with it the schedules).
        let r = remove(&o, Part::Op(n, 0)).unwrap();
        assert!(r.threads[n].ops.is_empty());
        let r = remove(&r, Part::Thread(n)).unwrap();
        assert_eq!(r.threads.len(), n);
        assert!(r.schedules.is_empty());
        assert!(remove(&r, Part::Vma(99)).is_err());
        // Removing the page a schedule's steps need keeps the scenario valid or says why.
        assert!(parts(&o)
            .iter()
            .any(|(p, l)| *p == Part::Op(n, 0) && l.contains("read 0x7f0000100000")));
    }

    #[test]
    fn builder_html_lists_parts_with_keys_that_parse_back() {
        let mut sc = App::default_scenario();
        sc.threads[0].name = "<i>".into();
        let h = builder_html(&sc);
        for (p, _) in parts(&sc) {
            assert!(h.contains(&format!("data-remove=\"{}\"", p.key())), "{h}");
            assert_eq!(Part::parse(&p.key()), Some(p));
        }
        assert!(h.contains("T0 &lt;i&gt;</option>") && !h.contains("<i>"));
        assert_eq!(Part::parse("op:1"), None);
        assert_eq!(Part::parse("vma:x"), None);
    }

    #[test]
    fn bug_inline_error_text_runs_past_the_right_edge() {
        // Short messages stay whole.
        assert_eq!(inline_message("expected a number", 10), "expected a number");
        // Long ones are cut at a word so line + message fit the editor's width.
        let long = "threads[1].ops[0].to_pfn: 0x12345 is the page's own frame; migrate it to a frame nothing maps";
        let m = inline_message(long, 30);
        assert!(
            m.ends_with('…') && m.chars().count() + 30 + 4 <= INLINE_WIDTH + 1,
            "{m}"
        );
        assert!(long.starts_with(m.trim_end_matches('…')), "{m}");
        // A long line still gets a readable start of the message.
        assert!(inline_message(long, 200).chars().count() >= 24);
        // The whole message stays in the tooltip.
        let (pre, _) = highlight_html(
            "mmrace v6.4\nvma 0x0-0x1000 PROT_READ",
            Some(&LineError {
                line: 2,
                col: None,
                message: long.into(),
            }),
        );
        assert!(pre.contains(&format!("title=\"{}\"", long)), "{pre}");
    }

    #[test]
    fn highlighted_html_escapes_and_marks_the_error_line() {
        let e = LineError {
            line: 2,
            col: Some(3),
            message: "expected <x>, found \"&\"".into(),
        };
        let (pre, gutter) = highlight_html("cpus 2\nvma <&>\n", Some(&e));
        assert!(
            pre.contains("<span class=\"ed-line ed-error-line\" data-line=\"2\">"),
            "{pre}"
        );
        assert!(
            pre.contains(">&lt;</span><span class=\"tok-punct\">&amp;</span>")
                && !pre.contains("<&>"),
            "{pre}"
        );
        assert!(
            pre.contains("✗ expected &lt;x&gt;, found &quot;&amp;&quot;</span></span>"),
            "{pre}"
        );
        assert_eq!(pre.matches("class=\"ed-line").count(), 3);
        assert_eq!(gutter.matches("ed-ln error").count(), 1);
        assert!(gutter.contains("<div class=\"ed-ln error\">2</div>"));
    }

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

    #[test]
    fn record_a_schedule_and_narrate_it_then_the_link_carries_the_notes() {
        let free = App::from_library("seed-mprotect-vs-migration-v6.4.json", None)
            .unwrap()
            .with_schedule(None)
            .unwrap();
        assert!(save_schedule(&free, "mine").is_err(), "nothing stepped yet");
        let mut a = free.clone();
        for t in [1, 1, 0, 0, 2] {
            a = a.apply(Action::StepThread(t));
        }
        assert!(set_note(&a, "x").is_err(), "not saved yet");
        assert!(save_schedule(&a, " ").is_err());
        let saved = save_schedule(&a, "mine").unwrap();
        assert_eq!(saved.cursor, 5);
        assert_eq!(saved.named.as_ref().unwrap().name, "mine");
        assert_eq!(
            saved.scenario.schedule("mine").unwrap().steps,
            Steps::List(vec![1, 1, 0, 0, 2])
        );
        let one = saved.apply(Action::Jump(1));
        let noted = set_note(&one, "  The migration starts.  ").unwrap();
        assert_eq!(noted.note(), Some("The migration starts."));
        let noted = set_note(&noted.apply(Action::Jump(4)), "Fourth.").unwrap();
        // The link of what is on screen carries the notes.
        let back = App::from_link(Link::decode(&noted.link()).unwrap()).unwrap();
        assert_eq!(back.note(), Some("Fourth."));
        assert_eq!(
            back.apply(Action::Jump(1)).note(),
            Some("The migration starts.")
        );
        // Removing a note; re-saving a shorter schedule drops notes past its end.
        let removed = set_note(&back, "").unwrap();
        assert_eq!(removed.note(), None);
        let short = back.apply(Action::Jump(2)).apply(Action::StepThread(2));
        assert_eq!(*short.schedule, [1, 1, 2]);
        let resaved = save_schedule(&short, "mine").unwrap();
        let notes = &resaved.scenario.schedule("mine").unwrap().notes;
        assert_eq!(notes.keys().copied().collect::<Vec<_>>(), [0]);
        // bug_saving_under_an_existing_name_replaces_it: another schedule's name is refused
        // and the scenario keeps that schedule as it was.
        let Err(e) = save_schedule(&short, "writer-first") else {
            panic!("saving under another schedule's name was accepted");
        };
        assert!(e.contains("\"writer-first\" is another schedule"), "{e}");
        assert_eq!(
            short.scenario.schedule("writer-first"),
            back.scenario.schedule("writer-first")
        );
        // The text form shows them.
        let text = litmus::print(&noted.scenario);
        assert!(text.contains("note 3 \"Fourth.\""), "{text}");
    }
}
