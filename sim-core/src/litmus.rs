//! The litmus text format: a compact, hand-writable spelling of a [`Scenario`], in the spirit
//! of herd7 litmus tests. [`parse()`] reads it, [`print()`] writes it, and
//! `parse(&print(&sc)) == Ok(sc)` for every scenario JSON can express (fields at their
//! default are left out when printing and filled in when parsing). [`load_any`] takes either
//! format. The parser only builds the [`Scenario`]; whether it makes sense (aligned addresses,
//! thread names unique, CPUs that exist, ...) is [`Scenario::build`]'s job, which reports
//! errors by JSON path (`threads[1].name`).
//!
//! ```text
//! mmrace v6.4 + restore-from-stale-entry "What-if (c) ..."   # header: version, variants, title
//! description "Hypothetical kernel ..."
//! cpus 3
//!
//! vma 0x7f0000000000-0x7f0000200000 PROT_READ|PROT_WRITE VM_HUGEPAGE no-anon-vma
//! page 0x7f0000000000 -> pfn 0x12345 ro old clean non-exclusive data 0x11
//! thp 0x7f0000200000 -> pfn 0x40000 data 0x1000
//! tlb cpu 2 caches 0x7f0000000000
//! alloc 0x30000 0x30001
//!
//! thread "mprotect" on cpu 0 {
//!   mprotect 0x7f0000000000 0x1000 PROT_READ
//! }
//! thread "migrate" on cpu 1 {
//!   migrate 0x7f0000000000 -> pfn 0x23456
//!   split_huge_pmd 0x7f0000000000; read 0x7f0000000000
//!   write 0x7f0000000000 = 0x42
//! }
//!
//! schedule "counterexample" "optional description" = 1x12 0* 1* 2*
//!   expect violates writable-pte-in-readonly-vma at 26
//!   note 4 "narration for step 4"
//! schedule "explicit" = [1 1 0 2]
//!   expect safe
//!
//! forall any (~(mprotect returned /\ pte_present(0x7f0000000000) /\ pte_write(0x7f0000000000)))
//! ```
//!
//! # Grammar
//!
//! Statements (and operations inside a thread's braces) end at a newline or `;`; a thread's
//! closing `}` may follow its last operation on the same line. `#` starts a comment that runs
//! to the end of the line (except inside strings); blank lines and indentation mean nothing;
//! statements may come in any order (lists keep the order written). Keywords are
//! case-sensitive. `[x]` is optional, `{x}` repeats zero or more times, `a | b` is a choice.
//!
//! ```text
//! file      = header { statement }
//! header    = "mmrace" VERSION { "+" (MUTATION | "historical" HISTORICAL) } [ STRING ]
//!                                                                  (title; "" if absent)
//! statement = "format" NUM                                           (default 1; at most once)
//!           | "description" STRING                                   (default ""; at most once)
//!           | "cpus" NUM                                             (default 1; at most once)
//!           | "vma" NUM "-" NUM prot { WORD | STRING | "no-anon-vma" }  (start-end, vm_flags)
//!           | ("page" | "thp") NUM "->" ["pfn"] NUM { page-attr }
//!           | "tlb" "cpu" NUM "caches" NUM
//!           | "alloc" NUM { NUM }                                    (appends to the pool)
//!           | "thread" STRING [ "on" "cpu" NUM ] "{" { op } "}"      (cpu default 0)
//!           | "schedule" STRING [ STRING ] "=" steps                 (name, description)
//!           | "expect" ( "safe" | "violates" (WORD | STRING) [ "at" NUM ] )
//!           | "note" NUM STRING
//!           | condition                                              (at most once)
//! condition = ("exists" | "~exists" | "forall") ["final" | "any"] "(" predicate ")"
//!                               (see crate::condition; may span lines up to the `)` closing
//!                                its first `(`, with comments inside)
//! page-attr = "ro" | "old" | "clean" | "non-exclusive" | "shared" | "data" NUM
//!                               (writable/young/dirty/exclusive are true unless given; data 0)
//! prot      = NUM(0-7) | PROT { "|" PROT }       PROT = PROT_NONE|PROT_READ|PROT_WRITE|PROT_EXEC
//! op        = "mprotect" NUM NUM prot            (addr, len, prot)
//!           | "migrate" NUM "->" ["pfn"] NUM     (addr, to_pfn)
//!           | "split_huge_pmd" NUM               (addr)
//!           | "read" NUM                         (addr)
//!           | "write" NUM "=" NUM                (addr, value)
//!                               (each operation of crate::ops as its fields spell it:
//!                                a lead's punctuation is required, its words optional)
//! steps     = "[" { NUM } "]"                    (explicit thread list; commas optional;
//!                                                 may span lines)
//!           | STRING                             (compact form, verbatim)
//!           | STEP { STEP }                      (compact form, bare to the end of the line:
//!                                                 STEP = [A-Za-z0-9*]+, e.g. 0x6 1* 2)
//! ```
//!
//! `expect` and `note` belong to the nearest `schedule` above them (at most one `expect`
//! and one note per step each). `VERSION` is `v6.3` or `v6.4`; `MUTATION` a what-if id
//! ([`Mutation::id`]), `HISTORICAL` a historical variant's ([`Historical::id`]; the printer
//! writes what-ifs first). A `WORD` is `[A-Za-z_][A-Za-z0-9_.-]*`; as a vm_flags entry it is a
//! name such as `VM_HUGEPAGE` (a quoted `STRING` takes any text, and the printer quotes what
//! is not a C identifier); `shared` is accepted for `non-exclusive`, and `pfn` after `->` is
//! optional (both are printed in the first spelling). `NUM` is hex (`0x1f`) or decimal, with optional `_` separators, and must
//! fit in 64 bits; the printer writes addresses, pfns, lengths and values in hex and counts
//! (CPUs, steps) in decimal. In the bare compact schedule form `0x6` means "thread 0, six
//! steps", not a hex number (see [`crate::schedule`]). `STRING` is a JSON string literal:
//! double quotes, `\" \\ \/ \b \f \n \r \t \uXXXX` escapes, no raw control characters, on
//! one line. Inputs above [`MAX_BYTES`] are refused. A UTF-8 byte-order mark and `\r\n`
//! line ends are accepted. The only value [`print()`] cannot write so that it parses back is a
//! protection with bits beyond `PROT_READ|PROT_WRITE|PROT_EXEC`, which JSON refuses too.
//!
//! Errors carry the 1-based line and column (in characters), what was expected and what was
//! found: `3:14: expected a hex address, found "zz"`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::condition::Condition;
use crate::flags::{PROT_EXEC, PROT_READ, PROT_WRITE};
use crate::kernel::{Historical, Kernel, Mutation, Version};
use crate::lex;
use crate::num::{Hex, Prot};
use crate::ops::{Kind, OpInfo, OpSpec, REGISTRY};
use crate::scenario::{
    Expectation, NamedSchedule, PageSpec, Scenario, Steps, ThreadJson, TlbSpec, VmaSpec, FORMAT,
    MAX_JSON_BYTES,
};

/// The keywords of the litmus format (besides the operations' names and their fields' leads,
/// which come from [`crate::ops::REGISTRY`], and the condition's,
/// [`crate::condition::KEYWORDS`]): the words the editor highlights as such.
pub const KEYWORDS: &[&str] = &[
    "mmrace",
    "historical",
    "format",
    "description",
    "cpus",
    "vma",
    "page",
    "thp",
    "tlb",
    "alloc",
    "thread",
    "schedule",
    "expect",
    "note",
    "on",
    "cpu",
    "caches",
    "pfn",
    "safe",
    "violates",
    "at",
    "data",
];

/// The words that set a VMA's or a page's attributes (`no-anon-vma`; `ro`, `old`, `clean`,
/// `non-exclusive` and its other spelling `shared`).
pub const ATTRIBUTES: &[&str] = &[
    "no-anon-vma",
    "ro",
    "old",
    "clean",
    "non-exclusive",
    "shared",
];

/// The largest input [`parse()`] accepts (the same limit as for JSON).
pub const MAX_BYTES: usize = MAX_JSON_BYTES;

/// A syntax error: where (1-based line and column, counted in characters), what the parser
/// expected there and what it found (a quoted token, `end of line` or `end of input`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{col}: expected {expected}, found {found}")]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub expected: String,
    pub found: String,
}

/// Read either format: JSON if the first non-blank character is `{`, litmus otherwise.
/// Errors are the JSON path error or the litmus `line:col: expected ..., found ...`.
pub fn load_any(text: &str) -> Result<Scenario, String> {
    if text.trim_start_matches(is_any_blank).starts_with('{') {
        Scenario::from_json(text).map_err(|e| e.to_string())
    } else {
        parse(text).map_err(|e| e.to_string())
    }
}

fn is_any_blank(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

// ---------------------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------------------

/// Write a scenario in the litmus format (canonical layout; see the module docs).
pub fn print(sc: &Scenario) -> String {
    let mut blocks: Vec<String> = Vec::new();

    let mut head = format!("mmrace {}", sc.kernel.version.name());
    for m in &sc.kernel.what_if {
        let _ = write!(head, " + {}", m.id());
    }
    for h in &sc.kernel.historical {
        let _ = write!(head, " + historical {}", h.id());
    }
    if !sc.title.is_empty() {
        let _ = write!(head, " {}", quote(&sc.title));
    }
    head.push('\n');
    if sc.format != FORMAT {
        let _ = writeln!(head, "format {}", sc.format);
    }
    if !sc.description.is_empty() {
        let _ = writeln!(head, "description {}", quote(&sc.description));
    }
    if sc.cpus != 1 {
        let _ = writeln!(head, "cpus {}", sc.cpus);
    }
    blocks.push(head);

    let mut state = String::new();
    for v in &sc.vmas {
        let _ = write!(state, "vma {}-{} {}", v.start, v.end, prot_text(v.prot));
        for f in &v.flags {
            if is_flag_word(f) {
                let _ = write!(state, " {f}");
            } else {
                let _ = write!(state, " {}", quote(f));
            }
        }
        if !v.anon_vma {
            state.push_str(" no-anon-vma");
        }
        state.push('\n');
    }
    for (kw, list) in [("page", &sc.pages), ("thp", &sc.thps)] {
        for p in list {
            let _ = write!(state, "{kw} {} -> pfn {}", p.addr, p.pfn);
            for (on, word) in [
                (!p.writable, "ro"),
                (!p.young, "old"),
                (!p.dirty, "clean"),
                (!p.exclusive, "non-exclusive"),
            ] {
                if on {
                    let _ = write!(state, " {word}");
                }
            }
            if p.data.0 != 0 {
                let _ = write!(state, " data {}", p.data);
            }
            state.push('\n');
        }
    }
    for t in &sc.tlb {
        let _ = writeln!(state, "tlb cpu {} caches {}", t.cpu, t.addr);
    }
    for chunk in sc.alloc_pfns.chunks(8) {
        state.push_str("alloc");
        for a in chunk {
            let _ = write!(state, " {a}");
        }
        state.push('\n');
    }
    if !state.is_empty() {
        blocks.push(state);
    }

    for t in &sc.threads {
        let mut s = format!("thread {}", quote(&t.name));
        if t.cpu != 0 {
            let _ = write!(s, " on cpu {}", t.cpu);
        }
        s.push_str(" {\n");
        for op in &t.ops {
            s.push_str("  ");
            s.push_str(&print_op(op));
            s.push('\n');
        }
        s.push_str("}\n");
        blocks.push(s);
    }

    let mut scheds = String::new();
    for sch in &sc.schedules {
        let _ = write!(scheds, "schedule {}", quote(&sch.name));
        if !sch.description.is_empty() {
            let _ = write!(scheds, " {}", quote(&sch.description));
        }
        scheds.push_str(" = ");
        match &sch.steps {
            Steps::List(v) => {
                scheds.push('[');
                for (i, t) in v.iter().enumerate() {
                    if i > 0 {
                        scheds.push(' ');
                    }
                    let _ = write!(scheds, "{t}");
                }
                scheds.push(']');
            }
            Steps::Compact(c) if is_bare_steps(c) => scheds.push_str(c),
            Steps::Compact(c) => scheds.push_str(&quote(c)),
        }
        scheds.push('\n');
        match &sch.expect {
            None => {}
            Some(Expectation::Safe) => scheds.push_str("  expect safe\n"),
            Some(Expectation::Violates { invariant, at_step }) => {
                scheds.push_str("  expect violates ");
                if lex::is_word(invariant) {
                    scheds.push_str(invariant);
                } else {
                    scheds.push_str(&quote(invariant));
                }
                if let Some(k) = at_step {
                    let _ = write!(scheds, " at {k}");
                }
                scheds.push('\n');
            }
        }
        for (k, n) in &sch.notes {
            let _ = writeln!(scheds, "  note {k} {}", quote(n));
        }
    }
    if !scheds.is_empty() {
        blocks.push(scheds);
    }
    if let Some(c) = &sc.condition {
        blocks.push(format!("{c}\n"));
    }
    blocks.join("\n")
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialise")
}

/// An operation as the litmus text writes it (`migrate 0x7f0000000000 -> pfn 0x23456`): its
/// name, then each field after its lead.
pub fn print_op(op: &OpSpec) -> String {
    let mut s = op.name().to_string();
    for (f, v) in op.fields().iter().zip(op.values()) {
        s.push(' ');
        if !f.lead.is_empty() {
            s.push_str(f.lead);
            s.push(' ');
        }
        match f.kind {
            Kind::Number => {
                let _ = write!(s, "{}", Hex(v));
            }
            Kind::Prot => s.push_str(&prot_text(Prot(v as u32))),
        }
    }
    s
}

fn prot_text(p: Prot) -> String {
    if p.0 <= 7 {
        crate::flags::prot_name(p.0)
    } else {
        // Not expressible in JSON either; printed as a number the parser refuses.
        p.0.to_string()
    }
}

/// A vm_flags name printable bare: a C identifier (so never `no-anon-vma`).
fn is_flag_word(s: &str) -> bool {
    lex::is_word(s) && !s.contains(['-', '.'])
}

fn is_step_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '*'
}

/// A compact schedule printable bare: tokens of step characters joined by single spaces.
fn is_bare_steps(s: &str) -> bool {
    !s.is_empty()
        && s.split(' ')
            .all(|t| !t.is_empty() && t.chars().all(is_step_char))
}

// ---------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------

const STATEMENTS: &str =
    "a statement (vma, page, thp, tlb, alloc, thread, schedule, expect, note, exists, ~exists, forall, description, cpus, format)";
/// What may come next in a thread's braces.
fn operations_expected() -> String {
    let names: Vec<&str> = REGISTRY.iter().map(|r| r.name).collect();
    format!("an operation ({}) or `}}`", names.join(", "))
}

const PROT_EXPECTED: &str =
    "a protection (PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC joined by |, or 0-7)";

/// Parse the litmus format. Never panics; the first error is returned.
pub fn parse(text: &str) -> Result<Scenario, ParseError> {
    if text.len() > MAX_BYTES {
        return Err(ParseError {
            line: 1,
            col: 1,
            expected: format!("a scenario of at most {MAX_BYTES} bytes"),
            found: format!("{} bytes", text.len()),
        });
    }
    let mut p = Parser { src: text, pos: 0 };
    if p.peek() == Some('\u{feff}') {
        p.pos += '\u{feff}'.len_utf8();
    }
    p.file()
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

type R<T> = Result<T, ParseError>;

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.pos += c.len_utf8();
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.bump();
            true
        } else {
            false
        }
    }

    /// Spaces, tabs, carriage returns and comments (not newlines).
    fn skip_blank(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\r' => self.bump(),
                '#' => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                _ => break,
            }
        }
    }

    /// Blanks, newlines and empty statements.
    fn skip_trivia(&mut self) {
        loop {
            self.skip_blank();
            match self.peek() {
                Some('\n' | ';') => self.bump(),
                _ => break,
            }
        }
    }

    fn line_col(&self, pos: usize) -> (usize, usize) {
        let before = &self.src[..pos];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }

    /// `line:col` of `pos`, for messages (computed only when an error is reported: counting
    /// lines for every string or block would make parsing quadratic).
    fn loc(&self, pos: usize) -> String {
        let (l, c) = self.line_col(pos);
        format!("{l}:{c}")
    }

    fn found_at(&self, pos: usize) -> String {
        let rest = &self.src[pos..];
        let Some(c) = rest.chars().next() else {
            return "end of input".into();
        };
        if c == '\n' || rest.starts_with("\r\n") {
            return "end of line".into();
        }
        let delim = |c: char| c.is_whitespace() || "{}[]\"=;|,#".contains(c);
        let tok: String = if delim(c) {
            c.to_string()
        } else {
            let mut t: String = rest.chars().take_while(|&c| !delim(c)).take(41).collect();
            if t.chars().count() > 40 {
                t = t.chars().take(40).collect::<String>() + "…";
            }
            t
        };
        quote(&tok)
    }

    fn error_at(&self, pos: usize, expected: impl Into<String>) -> ParseError {
        self.error_found(pos, expected, self.found_at(pos))
    }

    fn error_found(
        &self,
        pos: usize,
        expected: impl Into<String>,
        found: impl Into<String>,
    ) -> ParseError {
        let (line, col) = self.line_col(pos);
        ParseError {
            line,
            col,
            expected: expected.into(),
            found: found.into(),
        }
    }

    fn error(&self, expected: impl Into<String>) -> ParseError {
        self.error_at(self.pos, expected)
    }

    /// A WORD at the cursor (after blanks), consumed.
    fn word(&mut self) -> Option<(usize, &'a str)> {
        self.skip_blank();
        let start = self.pos;
        let n = lex::word_len(&self.src[start..]);
        if n == 0 {
            return None;
        }
        self.pos += n;
        Some((start, &self.src[start..self.pos]))
    }

    /// Consume `kw` if it is the next word.
    fn keyword(&mut self, kw: &str) -> bool {
        let save = self.pos;
        match self.word() {
            Some((_, w)) if w == kw => true,
            _ => {
                self.pos = save;
                false
            }
        }
    }

    fn expect_keyword(&mut self, kw: &str, expected: &str) -> R<()> {
        if self.keyword(kw) {
            Ok(())
        } else {
            self.skip_blank();
            Err(self.error(expected))
        }
    }

    fn expect_punct(&mut self, s: &str, expected: &str) -> R<()> {
        self.skip_blank();
        if self.src[self.pos..].starts_with(s) {
            self.pos += s.len();
            Ok(())
        } else {
            Err(self.error(expected))
        }
    }

    /// A number: `0x` hex or decimal, `_` separators allowed, at most `u64::MAX`.
    fn number(&mut self, what: &str) -> R<u64> {
        self.skip_blank();
        let start = self.pos;
        let n = lex::number_len(&self.src[start..]);
        if n == 0 {
            return Err(self.error(what));
        }
        self.pos += n;
        lex::number_value(&self.src[start..self.pos]).map_err(|e| match e {
            lex::NumberError::Malformed => self.error_at(start, what),
            lex::NumberError::TooBig => self.error_at(
                start,
                format!("{what} that fits in 64 bits (at most {:#x})", u64::MAX),
            ),
        })
    }

    fn hex(&mut self, what: &str) -> R<Hex> {
        self.number(what).map(Hex)
    }

    fn count(&mut self, what: &str) -> R<usize> {
        self.skip_blank();
        let start = self.pos;
        let n = self.number(what)?;
        usize::try_from(n)
            .map_err(|_| self.error_at(start, format!("{what} of at most {}", usize::MAX)))
    }

    /// A JSON string literal on one line.
    fn string(&mut self, what: &str) -> R<String> {
        self.skip_blank();
        let open = self.pos;
        if self.peek() != Some('"') {
            return Err(self.error(what));
        }
        match lex::string(&self.src[open..]) {
            Ok((value, n)) => {
                self.pos += n;
                Ok(value)
            }
            Err(lex::StringError::Unclosed { at }) => Err(self.error_at(
                open + at,
                format!("`\"` closing the string opened at {}", self.loc(open)),
            )),
            Err(lex::StringError::Escape { at, expected }) => {
                Err(self.error_at(open + at, expected))
            }
            Err(lex::StringError::Control { at, c }) => Err(self.error_found(
                open + at,
                "a character or an escape (control characters must be escaped)",
                quote(&c.to_string()),
            )),
        }
    }

    /// After a statement: only blanks/comments, then a newline, `;` or the end of input.
    fn end_stmt(&mut self) -> R<()> {
        self.skip_blank();
        match self.peek() {
            None => Ok(()),
            Some('\n' | ';') => {
                self.bump();
                Ok(())
            }
            _ => Err(self.error("end of line")),
        }
    }

    fn at_stmt_end(&mut self) -> bool {
        self.skip_blank();
        matches!(self.peek(), None | Some('\n' | ';'))
    }

    fn prot(&mut self) -> R<Prot> {
        self.skip_blank();
        if self.peek().is_some_and(|c| c.is_ascii_digit()) {
            let start = self.pos;
            let n = self.number(PROT_EXPECTED)?;
            if n > 7 {
                return Err(self.error_at(start, PROT_EXPECTED));
            }
            return Ok(Prot(n as u32));
        }
        let mut p = 0;
        loop {
            let Some((at, w)) = self.word() else {
                return Err(self.error(PROT_EXPECTED));
            };
            p |= match w {
                "PROT_NONE" => 0,
                "PROT_READ" => PROT_READ,
                "PROT_WRITE" => PROT_WRITE,
                "PROT_EXEC" => PROT_EXEC,
                _ => return Err(self.error_at(at, PROT_EXPECTED)),
            };
            self.skip_blank();
            if !self.eat('|') {
                return Ok(Prot(p));
            }
        }
    }

    /// Whether a condition (`exists`, `~exists`, `forall`) starts at the cursor.
    fn at_condition(&self) -> bool {
        let rest = &self.src[self.pos..];
        let rest = rest.strip_prefix('~').unwrap_or(rest);
        ["exists", "forall"].iter().any(|kw| {
            rest.strip_prefix(kw)
                .is_some_and(|after| !after.starts_with(lex::is_word_char))
        })
    }

    /// A condition statement: its text runs to the parenthesis closing its first `(`, across
    /// lines (comments inside are blanked), and is read by [`Condition::parse`]; its errors
    /// are placed in the file.
    fn condition(&mut self) -> R<Condition> {
        let start = self.pos;
        let bytes = self.src.as_bytes();
        let mut text = String::new();
        let mut depth = 0usize;
        let mut i = start;
        while i < bytes.len() {
            let c = self.src[i..].chars().next().expect("in bounds");
            let n = c.len_utf8();
            match c {
                '\n' | ';' if depth == 0 => break,
                '#' => {
                    // A comment to the end of the line: blank it, keeping byte offsets.
                    while i < bytes.len() && bytes[i] != b'\n' {
                        text.push(' ');
                        i += 1;
                    }
                    continue;
                }
                '"' => {
                    // A quoted thread name: copy it whole (it may hold parentheses).
                    let mut end = i + 1;
                    while end < bytes.len() && !matches!(bytes[end], b'"' | b'\n') {
                        end += if bytes[end] == b'\\' { 2 } else { 1 };
                    }
                    let end = (end + 1).min(bytes.len());
                    // Never split a character (an escape before a multi-byte one).
                    let end = (end..=bytes.len())
                        .find(|&e| self.src.is_char_boundary(e))
                        .unwrap_or(bytes.len());
                    text.push_str(&self.src[i..end]);
                    i = end;
                    continue;
                }
                '(' => depth += 1,
                ')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        text.push(')');
                        i += 1;
                        break;
                    }
                }
                _ => {}
            }
            text.push_str(&self.src[i..i + n]);
            i += n;
        }
        match Condition::parse(&text) {
            Ok(c) => {
                self.pos = i;
                Ok(c)
            }
            Err(e) => {
                let pos = (start + e.offset).min(self.src.len());
                Err(self.error_found(pos, e.expected, e.found))
            }
        }
    }

    fn file(&mut self) -> R<Scenario> {
        self.skip_trivia();
        self.expect_keyword(
            "mmrace",
            "the header `mmrace <version>`, e.g. `mmrace v6.4`",
        )?;
        let version = match self.word() {
            Some((_, "v6.3")) => Version::V6_3,
            Some((_, "v6.4")) => Version::V6_4,
            Some((at, _)) => return Err(self.error_at(at, "a kernel version (v6.3 or v6.4)")),
            None => return Err(self.error("a kernel version (v6.3 or v6.4)")),
        };
        let mut kernel = Kernel::new(version);
        loop {
            self.skip_blank();
            if !self.eat('+') {
                break;
            }
            let expected = || {
                let ids: Vec<&str> = Mutation::ALL.iter().map(|m| m.id()).collect();
                format!(
                    "a what-if mutation ({}) or `historical <variant>`",
                    ids.join(", ")
                )
            };
            let Some((at, w)) = self.word() else {
                return Err(self.error(expected()));
            };
            if w == "historical" {
                let expected = || {
                    let ids: Vec<&str> = Historical::ALL.iter().map(|h| h.id()).collect();
                    format!("a historical variant ({})", ids.join(", "))
                };
                self.skip_blank();
                let Some((at, h)) = self.word() else {
                    return Err(self.error(expected()));
                };
                match Historical::ALL.iter().find(|v| v.id() == h) {
                    Some(v) => kernel.historical.push(*v),
                    None => return Err(self.error_at(at, expected())),
                }
                continue;
            }
            match Mutation::ALL.iter().find(|m| m.id() == w) {
                Some(m) => kernel.what_if.push(*m),
                None => return Err(self.error_at(at, expected())),
            }
        }
        self.skip_blank();
        let title = if self.peek() == Some('"') {
            self.string("a title")?
        } else {
            String::new()
        };
        if !self.at_stmt_end() {
            return Err(self.error("`+ <what-if>`, a quoted title or end of line"));
        }
        self.end_stmt()?;

        let mut sc = Scenario {
            format: FORMAT,
            title,
            description: String::new(),
            kernel,
            cpus: 1,
            vmas: Vec::new(),
            pages: Vec::new(),
            thps: Vec::new(),
            tlb: Vec::new(),
            alloc_pfns: Vec::new(),
            threads: Vec::new(),
            schedules: Vec::new(),
            condition: None,
        };
        // Where each once-only statement was given, and the current schedule's `expect`.
        let mut once: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut expect_at: Option<usize> = None;
        let mut condition_at: Option<usize> = None;
        loop {
            self.skip_trivia();
            if self.peek().is_none() {
                break;
            }
            if self.at_condition() {
                let at = self.pos;
                if let Some(first) = condition_at {
                    return Err(self.error_at(
                        at,
                        format!(
                            "one condition per scenario (the first is at {})",
                            self.loc(first)
                        ),
                    ));
                }
                condition_at = Some(at);
                sc.condition = Some(self.condition()?);
                self.end_stmt()?;
                continue;
            }
            let Some((at, w)) = self.word() else {
                return Err(self.error(STATEMENTS));
            };
            for single in ["format", "description", "cpus"] {
                if w == single {
                    if let Some(&first) = once.get(single) {
                        return Err(self.error_at(
                            at,
                            format!(
                                "a statement other than a second `{single}` (the first is at {})",
                                self.loc(first)
                            ),
                        ));
                    }
                    once.insert(single, at);
                }
            }
            match w {
                "format" => {
                    let start = {
                        self.skip_blank();
                        self.pos
                    };
                    let n = self.number("a format version")?;
                    sc.format = u32::try_from(n).map_err(|_| {
                        self.error_at(start, format!("a format version of at most {}", u32::MAX))
                    })?;
                }
                "description" => sc.description = self.string("a quoted description")?,
                "cpus" => sc.cpus = self.count("a CPU count")?,
                "vma" => {
                    let start = self.hex("a hex address")?;
                    self.expect_punct("-", "`-` between the VMA's start and end")?;
                    let end = self.hex("a hex address")?;
                    let prot = self.prot()?;
                    let mut v = VmaSpec {
                        start,
                        end,
                        prot,
                        flags: Vec::new(),
                        anon_vma: true,
                    };
                    while !self.at_stmt_end() {
                        if self.peek() == Some('"') {
                            let f = self.string("a vm_flags name")?;
                            v.flags.push(f);
                            continue;
                        }
                        match self.word() {
                            Some((at, "no-anon-vma")) => {
                                if !v.anon_vma {
                                    return Err(self.error_found(
                                        at,
                                        "`no-anon-vma` at most once",
                                        "a second \"no-anon-vma\"",
                                    ));
                                }
                                v.anon_vma = false;
                            }
                            Some((_, f)) => v.flags.push(f.to_string()),
                            None => return Err(self.error(
                                "a vm_flags name such as VM_HUGEPAGE, `no-anon-vma` or end of line",
                            )),
                        }
                    }
                    sc.vmas.push(v);
                }
                "page" | "thp" => {
                    let addr = self.hex("a hex address")?;
                    self.expect_punct("->", "`->` and the page's pfn")?;
                    self.keyword("pfn");
                    let pfn = self.hex("a hex pfn")?;
                    let mut pg = PageSpec {
                        addr,
                        pfn,
                        writable: true,
                        young: true,
                        dirty: true,
                        exclusive: true,
                        data: Hex(0),
                    };
                    let mut seen: Vec<&str> = Vec::new();
                    while !self.at_stmt_end() {
                        let Some((at, a)) = self.word() else {
                            return Err(self.error(
                                "a page attribute (ro, old, clean, non-exclusive, data <value>) or end of line",
                            ));
                        };
                        let key = if a == "shared" { "non-exclusive" } else { a };
                        if seen.contains(&key) {
                            return Err(self.error_found(
                                at,
                                format!(
                                    "each page attribute at most once (`{key}` is given twice)"
                                ),
                                quote(a),
                            ));
                        }
                        match key {
                            "ro" => pg.writable = false,
                            "old" => pg.young = false,
                            "clean" => pg.dirty = false,
                            "non-exclusive" => pg.exclusive = false,
                            "data" => pg.data = self.hex("a hex value")?,
                            _ => {
                                return Err(self.error_at(
                                    at,
                                    "a page attribute (ro, old, clean, non-exclusive, data <value>) or end of line",
                                ))
                            }
                        }
                        seen.push(key);
                    }
                    if w == "page" {
                        sc.pages.push(pg);
                    } else {
                        sc.thps.push(pg);
                    }
                }
                "tlb" => {
                    self.expect_keyword("cpu", "`cpu` (as in `tlb cpu 2 caches 0x7f0000000000`)")?;
                    let cpu = self.count("a CPU number")?;
                    self.expect_keyword(
                        "caches",
                        "`caches` (as in `tlb cpu 2 caches 0x7f0000000000`)",
                    )?;
                    let addr = self.hex("a hex address")?;
                    sc.tlb.push(TlbSpec { cpu, addr });
                }
                "alloc" => {
                    sc.alloc_pfns.push(self.hex("a hex pfn")?);
                    while !self.at_stmt_end() {
                        sc.alloc_pfns.push(self.hex("a hex pfn or end of line")?);
                    }
                }
                "thread" => {
                    let t = self.thread()?;
                    sc.threads.push(t);
                }
                "schedule" => {
                    let name = self.string("a quoted schedule name")?;
                    self.skip_blank();
                    let description = if self.peek() == Some('"') {
                        self.string("a quoted description")?
                    } else {
                        String::new()
                    };
                    self.expect_punct("=", "`=` and the schedule's steps")?;
                    let steps = self.steps()?;
                    sc.schedules.push(NamedSchedule {
                        name,
                        description,
                        steps,
                        expect: None,
                        notes: crate::vec_map::VecMap::new(),
                    });
                    expect_at = None;
                }
                "expect" => {
                    let Some(s) = sc.schedules.last_mut() else {
                        return Err(self.error_at(at, "a `schedule` line before `expect`"));
                    };
                    if let Some(first) = expect_at {
                        return Err(self.error_at(
                            at,
                            format!(
                                "one `expect` per schedule (this schedule's is at {})",
                                self.loc(first)
                            ),
                        ));
                    }
                    expect_at = Some(at);
                    s.expect = Some(match self.word() {
                        Some((_, "safe")) => Expectation::Safe,
                        Some((_, "violates")) => {
                            self.skip_blank();
                            let invariant = if self.peek() == Some('"') {
                                self.string("an invariant id")?
                            } else {
                                match self.word() {
                                    Some((_, w)) => w.to_string(),
                                    None => return Err(self.error("an invariant id")),
                                }
                            };
                            let at_step = if self.keyword("at") {
                                Some(self.count("a step number")?)
                            } else {
                                None
                            };
                            Expectation::Violates { invariant, at_step }
                        }
                        Some((wat, _)) => {
                            return Err(self.error_at(wat, "`safe` or `violates <invariant>`"))
                        }
                        None => return Err(self.error("`safe` or `violates <invariant>`")),
                    });
                    if !self.at_stmt_end() {
                        return Err(self.error("`at <step>` or end of line"));
                    }
                }
                "note" => {
                    if sc.schedules.is_empty() {
                        return Err(self.error_at(at, "a `schedule` line before `note`"));
                    }
                    self.skip_blank();
                    let kat = self.pos;
                    let k = self.count("a step number")?;
                    let text = self.string("the note's quoted text")?;
                    let s = sc.schedules.last_mut().expect("checked above");
                    // The limit the scenario's validation has, checked here already: notes
                    // are kept in a sorted vector, and a file of many notes out of order must
                    // not cost quadratic time before that check.
                    let max = crate::scenario::limits::MAX_NOTES;
                    if s.notes.len() >= max {
                        return Err(self.error_found(
                            kat,
                            format!("at most {max} notes per schedule"),
                            format!("note {}", max + 1),
                        ));
                    }
                    if s.notes.contains_key(&k) {
                        return Err(self.error_found(
                            kat,
                            format!("one note per step (step {k} already has one)"),
                            quote(&k.to_string()),
                        ));
                    }
                    s.notes.insert(k, text);
                }
                _ => return Err(self.error_at(at, STATEMENTS)),
            }
            self.end_stmt()?;
        }
        Ok(sc)
    }

    fn thread(&mut self) -> R<ThreadJson> {
        let name = self.string("a quoted thread name")?;
        let mut cpu = 0;
        if self.keyword("on") {
            self.expect_keyword("cpu", "`cpu` (as in `on cpu 1`)")?;
            cpu = self.count("a CPU number")?;
        }
        self.skip_blank();
        let open = self.pos;
        if !self.eat('{') {
            return Err(self.error("`on cpu <n>` or `{`"));
        }
        let mut ops = Vec::new();
        loop {
            self.skip_trivia();
            match self.peek() {
                None => {
                    return Err(self.error(format!(
                        "`}}` closing thread {} (opened at {})",
                        quote(&name),
                        self.loc(open)
                    )))
                }
                Some('}') => {
                    self.bump();
                    break;
                }
                _ => {}
            }
            let Some((at, w)) = self.word() else {
                return Err(self.error(operations_expected()));
            };
            let Some(info) = OpInfo::get(w) else {
                return Err(self.error_at(at, operations_expected()));
            };
            let op = self.op(info)?;
            ops.push(op);
            self.skip_blank();
            if self.peek() != Some('}') {
                self.end_stmt().map_err(|e| ParseError {
                    expected: "end of line or `}`".into(),
                    ..e
                })?;
            }
        }
        Ok(ThreadJson { name, cpu, ops })
    }

    /// The fields of the operation `info` after its name, as its [`crate::ops::Field`]s spell them.
    fn op(&mut self, info: &OpInfo) -> R<OpSpec> {
        let mut values = Vec::with_capacity(info.fields.len());
        for f in info.fields {
            for piece in f.lead.split_whitespace() {
                if piece.starts_with(lex::is_word_start) {
                    self.keyword(piece);
                } else {
                    self.expect_punct(piece, &format!("`{piece}` and the {}", f.label))?;
                }
            }
            values.push(match f.kind {
                Kind::Number => self.number(&format!("a hex {}", f.label))?,
                Kind::Prot => u64::from(self.prot()?.0),
            });
        }
        Ok(OpSpec::from_values(info.name, &values).expect("one value per field"))
    }

    fn steps(&mut self) -> R<Steps> {
        self.skip_blank();
        match self.peek() {
            Some('[') => {
                let open = self.pos;
                self.bump();
                let mut v = Vec::new();
                loop {
                    loop {
                        self.skip_blank();
                        match self.peek() {
                            Some('\n' | ',') => self.bump(),
                            _ => break,
                        }
                    }
                    match self.peek() {
                        Some(']') => {
                            self.bump();
                            return Ok(Steps::List(v));
                        }
                        Some(c) if c.is_ascii_digit() => v.push(self.count("a thread number")?),
                        _ => {
                            return Err(self.error(format!(
                                "a thread number or `]` closing the list opened at {}",
                                self.loc(open)
                            )))
                        }
                    }
                }
            }
            Some('"') => Ok(Steps::Compact(self.string("a compact schedule")?)),
            _ => {
                const STEP: &str =
                    "schedule steps such as `0x6 1* 0*`, a quoted string or a [list]";
                let src = self.src;
                let mut toks: Vec<&str> = Vec::new();
                loop {
                    while matches!(self.peek(), Some(' ' | '\t' | '\r')) {
                        self.bump();
                    }
                    let start = self.pos;
                    match self.peek() {
                        None | Some('\n' | ';' | '#') => break,
                        Some(c) if is_step_char(c) => {
                            while self.peek().is_some_and(is_step_char) {
                                self.bump();
                            }
                            toks.push(&src[start..self.pos]);
                        }
                        _ => return Err(self.error(STEP)),
                    }
                }
                if toks.is_empty() {
                    return Err(self.error(STEP));
                }
                Ok(Steps::Compact(toks.join(" ")))
            }
        }
    }
}
