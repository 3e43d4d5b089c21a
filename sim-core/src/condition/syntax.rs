//! A condition's syntax: the tree, the lexer, the parser (errors with columns, limits), the
//! canonical printer and the JSON form (the text). See [the module docs](super).

use std::fmt;

use crate::flags::vm_flag_by_name;
use crate::invariants;
use crate::lex;
use crate::pte::{self, PAGE_SIZE};

/// The condition's keywords (quantifiers, scopes, ranges, thread tests): the words the
/// editor highlights as such.
pub const KEYWORDS: &[&str] = &[
    "exists", "forall", "final", "any", "some", "every", "in", "returned", "killed", "blocked",
    "holds",
];

/// The longest condition text, in characters.
pub const MAX_TEXT: usize = 4000;
/// The deepest nesting of `~`, `/\`, `\/` and parentheses.
pub const MAX_DEPTH: usize = 32;
/// The most atoms in one condition.
pub const MAX_ATOMS: usize = 256;
/// The most 4 KiB pages one `some`/`every` ranges over (2 PMDs' worth).
pub const MAX_RANGE_PAGES: u64 = 1024;

/// A scenario's condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub quantifier: Quantifier,
    pub scope: Scope,
    pub predicate: Pred,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantifier {
    Exists,
    NotExists,
    Forall,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// States where no thread can step.
    Final,
    /// Every reachable state.
    Any,
}

/// A predicate as written (thread names are resolved by [`Condition::compile`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pred {
    True,
    False,
    Not(Box<Pred>),
    And(Vec<Pred>),
    Or(Vec<Pred>),
    Thread(ThreadRef, ThreadTest),
    Holds(ThreadRef, Lock),
    Locked(Lock),
    Violated(String),
    Entry(EntryTest, Addr),
    Tlb {
        writable: bool,
        cpu: u64,
        addr: Addr,
    },
    Pages {
        every: bool,
        var: String,
        start: u64,
        end: u64,
        body: Box<Pred>,
    },
    Cmp(Value, CmpOp, Operand),
}

/// A thread as written: a name (quoted when it is not a word) or `T<index>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadRef(pub String);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadTest {
    Returned,
    Killed,
    Blocked,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lock {
    MmapLock,
    Ptl(Addr),
    PmdLock(Addr),
    Folio(u64),
}

/// An address: a number, or the bound page variable plus an offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    Num(u64),
    Var(String, u64),
}

macro_rules! names {
    ($(#[$m:meta])* $name:ident { $($v:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name { $($v,)* }
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$v,)*];
            pub fn name(self) -> &'static str {
                match self { $($name::$v => $s,)* }
            }
            fn from_name(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.name() == s)
            }
        }
    };
}

names!(
    /// A kernel helper applied to the entry mapping an address.
    EntryTest {
        PteNone = "pte_none",
        PtePresent = "pte_present",
        PteWrite = "pte_write",
        PteDirty = "pte_dirty",
        PteYoung = "pte_young",
        PteSoftDirty = "pte_soft_dirty",
        PteUffdWp = "pte_uffd_wp",
        PteProtnone = "pte_protnone",
        IsMigrationEntry = "is_migration_entry",
        IsWritableMigrationEntry = "is_writable_migration_entry",
        IsReadableMigrationEntry = "is_readable_migration_entry",
        IsReadableExclusiveMigrationEntry = "is_readable_exclusive_migration_entry",
        PmdNone = "pmd_none",
        PmdPresent = "pmd_present",
        PmdTransHuge = "pmd_trans_huge",
        IsPmdMigrationEntry = "is_pmd_migration_entry",
    }
);

names!(
    /// A value read from the state at an address.
    AddrValue {
        Pte = "pte",
        Pmd = "pmd",
        PtePfn = "pte_pfn",
        SwpOffsetPfn = "swp_offset_pfn",
        VmFlags = "vm_flags",
        VmPageProt = "vm_page_prot",
    }
);

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    At(AddrValue, Addr),
    Data(u64),
    Result(ThreadRef, u64),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    AnyBits,
}

/// The right-hand side of a comparison, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operand {
    Num { negative: bool, value: u64 },
    Names(Vec<String>),
}

/// The `_PAGE_*` bit names an operand may use (x86-64, `arch/x86/include/asm/pgtable_types.h`).
const PAGE_BITS: &[(&str, u64)] = &[
    ("_PAGE_PRESENT", pte::PRESENT),
    ("_PAGE_RW", pte::RW),
    ("_PAGE_USER", pte::USER),
    ("_PAGE_PWT", pte::PWT),
    ("_PAGE_PCD", pte::PCD),
    ("_PAGE_ACCESSED", pte::ACCESSED),
    ("_PAGE_DIRTY", pte::DIRTY),
    ("_PAGE_PSE", pte::PSE),
    ("_PAGE_GLOBAL", pte::GLOBAL),
    ("_PAGE_PROTNONE", pte::PROTNONE),
    ("_PAGE_SPECIAL", pte::SPECIAL),
    ("_PAGE_UFFD_WP", pte::UFFD_WP),
    ("_PAGE_SOFT_DIRTY", pte::SOFT_DIRTY),
    ("_PAGE_DEVMAP", pte::DEVMAP),
    ("_PAGE_NX", pte::NX),
];

pub(super) fn bit_by_name(name: &str) -> Option<u64> {
    PAGE_BITS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .or_else(|| vm_flag_by_name(name))
}

// ---------------------------------------------------------------------------------- errors

/// A syntax error in a condition: the byte offset into the condition text, what was
/// expected there and what was found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("column {}: expected {expected}, found {found}", .offset + 1)]
pub struct ParseError {
    pub offset: usize,
    pub expected: String,
    pub found: String,
}

/// A condition that parses but does not fit its scenario (an unknown thread or invariant).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CompileError(pub String);

// ---------------------------------------------------------------------------------- lexing

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Word(String),
    Str(String),
    Num(u64),
    Sym(&'static str),
    End,
}

const SYMS: &[&str] = &[
    "/\\", "\\/", "==", "!=", "~", "(", ")", ",", "&", "|", "+", "-",
];

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl Lexer<'_> {
    fn err(&self, at: usize, expected: &str, found: &str) -> ParseError {
        ParseError {
            offset: at,
            expected: expected.into(),
            found: found.into(),
        }
    }

    fn skip_blank(&mut self) {
        let rest = &self.src[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// The next token and where it starts.
    fn next(&mut self) -> Result<(usize, Tok), ParseError> {
        self.skip_blank();
        let start = self.pos;
        let rest = &self.src[start..];
        let Some(c) = rest.chars().next() else {
            return Ok((start, Tok::End));
        };
        let word = lex::word_len(rest);
        if word > 0 {
            // A trailing '-' belongs to what follows (`a-` never names anything).
            let word = rest[..word].trim_end_matches('-');
            self.pos += word.len();
            return Ok((start, Tok::Word(word.to_string())));
        }
        let number = lex::number_len(rest);
        if number > 0 {
            let text = &rest[..number];
            self.pos += number;
            return lex::number_value(text)
                .map(|v| (start, Tok::Num(v)))
                .map_err(|e| match e {
                    lex::NumberError::Malformed => {
                        self.err(start, "a number (hex 0x... or decimal)", &quote(text))
                    }
                    lex::NumberError::TooBig => {
                        self.err(start, "a number that fits in 64 bits", &quote(text))
                    }
                });
        }
        if c == '"' {
            // A JSON string literal on one line (the printer writes names that way).
            return match lex::string(rest) {
                Ok((name, n)) => {
                    self.pos += n;
                    Ok((start, Tok::Str(name)))
                }
                Err(_) => match lex::string_len(rest) {
                    (n, true) => Err(self.err(start, "a valid JSON string", &quote(&rest[..n]))),
                    (_, false) => Err(self.err(
                        start,
                        "a closing '\"' on the same line",
                        "an unterminated string",
                    )),
                },
            };
        }
        for s in SYMS {
            if rest.starts_with(s) {
                self.pos += s.len();
                return Ok((start, Tok::Sym(s)));
            }
        }
        Err(self.err(start, "a predicate", &quote(&c.to_string())))
    }
}

pub(super) fn quote(s: &str) -> String {
    format!("\"{s}\"")
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => quote(w),
        Tok::Str(s) => format!("the string {}", quote(s)),
        Tok::Num(n) => quote(&format!("{n:#x}")),
        Tok::Sym(s) => quote(s),
        Tok::End => "the end of the condition".into(),
    }
}

// --------------------------------------------------------------------------------- parsing

struct Parser<'a> {
    lex: Lexer<'a>,
    tok: Tok,
    at: usize,
    depth: usize,
    atoms: usize,
    /// The `some`/`every` variable in scope.
    var: Option<String>,
}

impl Condition {
    /// Parse a condition (see the module docs for the grammar).
    pub fn parse(text: &str) -> Result<Condition, ParseError> {
        if text.chars().count() > MAX_TEXT {
            return Err(ParseError {
                offset: 0,
                expected: format!("a condition of at most {MAX_TEXT} characters"),
                found: format!("{} characters", text.chars().count()),
            });
        }
        let mut p = Parser {
            lex: Lexer { src: text, pos: 0 },
            tok: Tok::End,
            at: 0,
            depth: 0,
            atoms: 0,
            var: None,
        };
        p.bump()?;
        let quantifier = match &p.tok {
            Tok::Word(w) if w == "exists" => Quantifier::Exists,
            Tok::Word(w) if w == "forall" => Quantifier::Forall,
            Tok::Sym("~") => {
                p.bump()?;
                match &p.tok {
                    Tok::Word(w) if w == "exists" => Quantifier::NotExists,
                    _ => return Err(p.expected("\"exists\" after \"~\"")),
                }
            }
            _ => return Err(p.expected("\"exists\", \"~exists\" or \"forall\"")),
        };
        p.bump()?;
        let scope = match &p.tok {
            Tok::Word(w) if w == "final" => {
                p.bump()?;
                Scope::Final
            }
            Tok::Word(w) if w == "any" => {
                p.bump()?;
                Scope::Any
            }
            _ => Scope::Final,
        };
        p.sym("(", "\"(\" (or the scope \"final\" / \"any\")")?;
        let predicate = p.pred()?;
        p.sym(")", "\")\" or a connective (/\\ or \\/)")?;
        if p.tok != Tok::End {
            return Err(p.expected("the end of the condition"));
        }
        let c = Condition {
            quantifier,
            scope,
            predicate,
        };
        // Scenarios store the canonical text, which spaces operators out: it must be
        // readable again, so the limit holds for it too.
        let canonical = c.to_string().chars().count();
        if canonical > MAX_TEXT {
            return Err(ParseError {
                offset: 0,
                expected: format!(
                    "a condition of at most {MAX_TEXT} characters when written canonically \
                     (one space around each operator)"
                ),
                found: format!("{canonical} characters"),
            });
        }
        Ok(c)
    }
}

impl Parser<'_> {
    fn bump(&mut self) -> Result<(), ParseError> {
        let (at, tok) = self.lex.next()?;
        self.at = at;
        self.tok = tok;
        Ok(())
    }

    fn expected(&self, what: &str) -> ParseError {
        ParseError {
            offset: self.at,
            expected: what.into(),
            found: describe(&self.tok),
        }
    }

    fn sym(&mut self, s: &str, what: &str) -> Result<(), ParseError> {
        if self.tok == Tok::Sym(SYMS.iter().find(|x| **x == s).copied().unwrap_or("")) {
            self.bump()
        } else {
            Err(self.expected(what))
        }
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(self.tok, Tok::Sym(x) if x == s)
    }

    fn word(&mut self, w: &str) -> Result<(), ParseError> {
        if matches!(&self.tok, Tok::Word(x) if x == w) {
            self.bump()
        } else {
            Err(self.expected(&quote(w)))
        }
    }

    fn num(&mut self, what: &str) -> Result<u64, ParseError> {
        match self.tok {
            Tok::Num(n) => {
                self.bump()?;
                Ok(n)
            }
            _ => Err(self.expected(what)),
        }
    }

    fn nest(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError {
                offset: self.at,
                expected: format!("at most {MAX_DEPTH} nested levels"),
                found: "deeper nesting".into(),
            });
        }
        Ok(())
    }

    fn pred(&mut self) -> Result<Pred, ParseError> {
        self.nest()?;
        let mut parts = vec![self.conj()?];
        while self.is_sym("\\/") {
            self.bump()?;
            parts.push(self.conj()?);
        }
        self.depth -= 1;
        Ok(if parts.len() == 1 {
            parts.pop().expect("one part")
        } else {
            Pred::Or(parts)
        })
    }

    fn conj(&mut self) -> Result<Pred, ParseError> {
        let mut parts = vec![self.unary()?];
        while self.is_sym("/\\") {
            self.bump()?;
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().expect("one part")
        } else {
            Pred::And(parts)
        })
    }

    fn unary(&mut self) -> Result<Pred, ParseError> {
        if self.is_sym("~") {
            self.bump()?;
            self.nest()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Pred::Not(Box::new(inner)));
        }
        if self.is_sym("(") {
            self.bump()?;
            let p = self.pred()?;
            self.sym(")", "\")\" or a connective (/\\ or \\/)")?;
            return Ok(p);
        }
        self.atoms += 1;
        if self.atoms > MAX_ATOMS {
            return Err(ParseError {
                offset: self.at,
                expected: format!("at most {MAX_ATOMS} atoms"),
                found: "more".into(),
            });
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Pred, ParseError> {
        const WHAT: &str = "a predicate (true, false, a thread test, an entry test such as \
                            pte_write(ADDR), locked(...), violated(...), some/every, or a \
                            comparison)";
        let start = self.at;
        let word = match &self.tok {
            Tok::Word(w) => w.clone(),
            Tok::Str(s) => {
                let t = ThreadRef(s.clone());
                self.bump()?;
                return self.thread_pred(t);
            }
            _ => return Err(self.expected(WHAT)),
        };
        self.bump()?;
        let call = self.is_sym("(");
        match word.as_str() {
            "true" if !call => return Ok(Pred::True),
            "false" if !call => return Ok(Pred::False),
            "some" | "every" if !call => return self.pages(word == "every", start),
            _ => {}
        }
        if !call {
            return self.thread_pred(ThreadRef(word));
        }
        self.bump()?; // "("
        let p = match word.as_str() {
            "locked" => Pred::Locked(self.lock()?),
            "violated" => {
                let id = match &self.tok {
                    Tok::Word(w) => w.clone(),
                    _ => return Err(self.expected("an invariant id such as lost-write")),
                };
                if !invariants::ALL.iter().any(|i| i.id == id) {
                    return Err(self.expected(&format!(
                        "an invariant id ({})",
                        invariants::ALL
                            .iter()
                            .map(|i| i.id)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                self.bump()?;
                Pred::Violated(id)
            }
            "tlb_cached" | "tlb_writable" => {
                let cpu = self.num("a CPU number")?;
                self.sym(",", "\",\"")?;
                let addr = self.addr()?;
                Pred::Tlb {
                    writable: word == "tlb_writable",
                    cpu,
                    addr,
                }
            }
            "data" => {
                let pfn = self.num("a pfn")?;
                self.sym(")", "\")\"")?;
                return self.cmp(Value::Data(pfn));
            }
            "result" => {
                let t = self.thread_ref()?;
                self.sym(",", "\",\"")?;
                let i = self.num("an operation index (0 for the thread's first)")?;
                self.sym(")", "\")\"")?;
                return self.cmp(Value::Result(t, i));
            }
            w => {
                if let Some(t) = EntryTest::from_name(w) {
                    Pred::Entry(t, self.addr()?)
                } else if let Some(v) = AddrValue::from_name(w) {
                    let a = self.addr()?;
                    self.sym(")", "\")\"")?;
                    return self.cmp(Value::At(v, a));
                } else {
                    return Err(ParseError {
                        offset: start,
                        expected: "a known function (an entry test such as pte_write, a value \
                                   such as pte or vm_flags, locked, violated, tlb_cached, \
                                   tlb_writable, data or result)"
                            .into(),
                        found: quote(w),
                    });
                }
            }
        };
        self.sym(")", "\")\"")?;
        Ok(p)
    }

    fn thread_ref(&mut self) -> Result<ThreadRef, ParseError> {
        let t = match &self.tok {
            Tok::Word(w) => ThreadRef(w.clone()),
            Tok::Str(s) => ThreadRef(s.clone()),
            _ => return Err(self.expected("a thread (its name, or T0, T1, ...)")),
        };
        self.bump()?;
        Ok(t)
    }

    fn thread_pred(&mut self, t: ThreadRef) -> Result<Pred, ParseError> {
        let test = match &self.tok {
            Tok::Word(w) if w == "returned" => ThreadTest::Returned,
            Tok::Word(w) if w == "killed" => ThreadTest::Killed,
            Tok::Word(w) if w == "blocked" => ThreadTest::Blocked,
            Tok::Word(w) if w == "holds" => {
                self.bump()?;
                return Ok(Pred::Holds(t, self.lock()?));
            }
            _ => {
                return Err(self.expected(&format!(
                    "\"returned\", \"killed\", \"blocked\" or \"holds\" after the thread {}",
                    quote(&t.0)
                )))
            }
        };
        self.bump()?;
        Ok(Pred::Thread(t, test))
    }

    fn lock(&mut self) -> Result<Lock, ParseError> {
        const WHAT: &str = "a lock: mmap_lock, ptl(ADDR), pmd_lock(ADDR) or folio(PFN)";
        let w = match &self.tok {
            Tok::Word(w) => w.clone(),
            _ => return Err(self.expected(WHAT)),
        };
        if w == "mmap_lock" {
            self.bump()?;
            return Ok(Lock::MmapLock);
        }
        if !matches!(w.as_str(), "ptl" | "pmd_lock" | "folio") {
            return Err(self.expected(WHAT));
        }
        self.bump()?;
        self.sym("(", "\"(\"")?;
        let l = match w.as_str() {
            "ptl" => Lock::Ptl(self.addr()?),
            "pmd_lock" => Lock::PmdLock(self.addr()?),
            _ => Lock::Folio(self.num("a folio's head pfn")?),
        };
        self.sym(")", "\")\"")?;
        Ok(l)
    }

    fn addr(&mut self) -> Result<Addr, ParseError> {
        match &self.tok {
            Tok::Num(n) => {
                let n = *n;
                self.bump()?;
                Ok(Addr::Num(n))
            }
            Tok::Word(w) if self.var.as_deref() == Some(w.as_str()) => {
                let v = w.clone();
                self.bump()?;
                let mut off = 0;
                if self.is_sym("+") {
                    self.bump()?;
                    off = self.num("an offset")?;
                }
                Ok(Addr::Var(v, off))
            }
            _ => Err(self.expected(match &self.var {
                Some(_) => "an address (a number, or the page variable [+ offset])",
                None => "an address",
            })),
        }
    }

    fn pages(&mut self, every: bool, start_at: usize) -> Result<Pred, ParseError> {
        if self.var.is_some() {
            return Err(ParseError {
                offset: start_at,
                expected: "no some/every inside another".into(),
                found: "a nested one".into(),
            });
        }
        let var = match &self.tok {
            Tok::Word(w) => w.clone(),
            _ => return Err(self.expected("a variable name for the page")),
        };
        self.bump()?;
        self.word("in")?;
        let range_at = self.at;
        let start = self.num("the range's start address")?;
        self.sym("-", "\"-\" between the range's start and end")?;
        let end = self.num("the range's end address")?;
        if start % PAGE_SIZE != 0 || end % PAGE_SIZE != 0 || start >= end {
            return Err(ParseError {
                offset: range_at,
                expected: "a page-aligned range START-END with START below END".into(),
                found: format!("{start:#x}-{end:#x}"),
            });
        }
        if (end - start) / PAGE_SIZE > MAX_RANGE_PAGES {
            return Err(ParseError {
                offset: range_at,
                expected: format!("a range of at most {MAX_RANGE_PAGES} pages"),
                found: format!("{} pages", (end - start) / PAGE_SIZE),
            });
        }
        self.sym("(", "\"(\"")?;
        self.var = Some(var.clone());
        let body = self.pred()?;
        self.var = None;
        self.sym(")", "\")\" or a connective (/\\ or \\/)")?;
        Ok(Pred::Pages {
            every,
            var,
            start,
            end,
            body: Box::new(body),
        })
    }

    fn cmp(&mut self, v: Value) -> Result<Pred, ParseError> {
        let op = match self.tok {
            Tok::Sym("==") => CmpOp::Eq,
            Tok::Sym("!=") => CmpOp::Ne,
            Tok::Sym("&") => CmpOp::AnyBits,
            _ => return Err(self.expected("\"==\", \"!=\" or \"&\" after a value")),
        };
        self.bump()?;
        let rhs = match &self.tok {
            Tok::Sym("-") => {
                self.bump()?;
                let value = self.num("a number after \"-\"")?;
                Operand::Num {
                    negative: true,
                    value,
                }
            }
            Tok::Num(n) => {
                let value = *n;
                self.bump()?;
                Operand::Num {
                    negative: false,
                    value,
                }
            }
            Tok::Word(_) => {
                let mut names = Vec::new();
                loop {
                    match &self.tok {
                        Tok::Word(w) if bit_by_name(w).is_some() => names.push(w.clone()),
                        _ => return Err(self.expected("a VM_* flag or _PAGE_* bit name")),
                    }
                    self.bump()?;
                    if !self.is_sym("|") {
                        break;
                    }
                    self.bump()?;
                }
                Operand::Names(names)
            }
            _ => return Err(self.expected("a number or flag names")),
        };
        Ok(Pred::Cmp(v, op, rhs))
    }
}

// -------------------------------------------------------------------------------- printing

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.quantifier {
            Quantifier::Exists => "exists",
            Quantifier::NotExists => "~exists",
            Quantifier::Forall => "forall",
        })?;
        if self.scope == Scope::Any {
            f.write_str(" any")?;
        }
        write!(f, " ({})", self.predicate)
    }
}

fn is_word(s: &str) -> bool {
    lex::is_word(s)
        && !s.ends_with('-')
        && !matches!(
            s,
            "true" | "false" | "some" | "every" | "exists" | "forall" | "final" | "any"
        )
}

impl fmt::Display for ThreadRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_word(&self.0) {
            f.write_str(&self.0)
        } else {
            f.write_str(&serde_json::to_string(&self.0).expect("strings serialise"))
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Num(n) => write!(f, "{n:#x}"),
            Addr::Var(v, 0) => f.write_str(v),
            Addr::Var(v, off) => write!(f, "{v} + {off:#x}"),
        }
    }
}

impl fmt::Display for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lock::MmapLock => f.write_str("mmap_lock"),
            Lock::Ptl(a) => write!(f, "ptl({a})"),
            Lock::PmdLock(a) => write!(f, "pmd_lock({a})"),
            Lock::Folio(p) => write!(f, "folio({p:#x})"),
        }
    }
}

impl fmt::Display for Pred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Parenthesise a conjunction/disjunction inside another, or under `~`, so that the
        // text parses back to the same tree.
        fn part(f: &mut fmt::Formatter<'_>, p: &Pred) -> fmt::Result {
            match p {
                Pred::And(_) | Pred::Or(_) => write!(f, "({p})"),
                _ => write!(f, "{p}"),
            }
        }
        match self {
            Pred::True => f.write_str("true"),
            Pred::False => f.write_str("false"),
            Pred::Not(p) => {
                f.write_str("~")?;
                part(f, p)
            }
            Pred::And(ps) | Pred::Or(ps) => {
                let sep = if matches!(self, Pred::And(_)) {
                    " /\\ "
                } else {
                    " \\/ "
                };
                for (i, p) in ps.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    part(f, p)?;
                }
                Ok(())
            }
            Pred::Thread(t, test) => write!(
                f,
                "{t} {}",
                match test {
                    ThreadTest::Returned => "returned",
                    ThreadTest::Killed => "killed",
                    ThreadTest::Blocked => "blocked",
                }
            ),
            Pred::Holds(t, l) => write!(f, "{t} holds {l}"),
            Pred::Locked(l) => write!(f, "locked({l})"),
            Pred::Violated(id) => write!(f, "violated({id})"),
            Pred::Entry(t, a) => write!(f, "{}({a})", t.name()),
            Pred::Tlb {
                writable,
                cpu,
                addr,
            } => write!(
                f,
                "{}({cpu}, {addr})",
                if *writable {
                    "tlb_writable"
                } else {
                    "tlb_cached"
                }
            ),
            Pred::Pages {
                every,
                var,
                start,
                end,
                body,
            } => write!(
                f,
                "{} {var} in {start:#x}-{end:#x} ({body})",
                if *every { "every" } else { "some" }
            ),
            Pred::Cmp(v, op, rhs) => {
                match v {
                    Value::At(what, a) => write!(f, "{}({a})", what.name())?,
                    Value::Data(pfn) => write!(f, "data({pfn:#x})")?,
                    Value::Result(t, i) => write!(f, "result({t}, {i})")?,
                }
                f.write_str(match op {
                    CmpOp::Eq => " == ",
                    CmpOp::Ne => " != ",
                    CmpOp::AnyBits => " & ",
                })?;
                match rhs {
                    Operand::Num {
                        negative: true,
                        value,
                    } => write!(f, "-{value}"),
                    Operand::Num {
                        negative: false,
                        value,
                    } => write!(f, "{value:#x}"),
                    Operand::Names(ns) => f.write_str(&ns.join(" | ")),
                }
            }
        }
    }
}

// --------------------------------------------------------------------------- serialisation

impl serde::Serialize for Condition {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Condition {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Condition::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for Condition {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Condition".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A condition over states: `exists`, `~exists` or `forall`, then the scope `final` (the default) or `any`, then a predicate in parentheses, e.g. `forall any (~(mprotect returned /\\ pte_present(0x7f0000000000) /\\ pte_write(0x7f0000000000)))`. The grammar is in sim_core::condition.",
            "type": "string",
            "maxLength": 4000
        })
    }
}
