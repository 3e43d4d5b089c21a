//! What one step reports: the pseudo-code line, the kernel function, a plain-words
//! explanation, lock events and the state diff.

use serde::Serialize;

use crate::state::{LockId, RwMode, Tid, TlbEntry};

/// One line of an operation's pseudo-code listing (our words, kernel names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line {
    /// The words (v6.3's where v6.4 reads differently): read through [`Line::text`].
    text: &'static str,
    /// v6.4's words, where they differ.
    v64: Option<&'static str>,
    /// The words under a historical variant, where they differ from the modelled kernel's.
    then: Option<(crate::kernel::Historical, &'static str)>,
    /// The kernel function this line belongs to.
    pub func: &'static str,
    /// Its file in the kernel tree.
    pub file: &'static str,
    /// Nesting depth for display.
    pub indent: u8,
    /// Which kernels show this line.
    pub when: When,
}

impl Line {
    /// A line that reads the same on every kernel.
    pub const fn new(
        indent: u8,
        text: &'static str,
        func: &'static str,
        file: &'static str,
        when: When,
    ) -> Line {
        Line {
            text,
            v64: None,
            then: None,
            func,
            file,
            indent,
            when,
        }
    }

    /// The same line reading `text` on v6.4 (its own text is then v6.3's): one step that does
    /// the same thing by a different rule on the two kernels keeps one line, and so one index.
    pub const fn v64(self, text: &'static str) -> Line {
        Line {
            v64: Some(text),
            ..self
        }
    }

    /// The same line reading `text` under historical variant `h`: the step that decides by the
    /// old rule keeps the line (and its index) of the step that decides by today's.
    pub const fn historical(self, h: crate::kernel::Historical, text: &'static str) -> Line {
        Line {
            then: Some((h, text)),
            ..self
        }
    }

    /// The words shown on kernel `k`.
    pub fn text(&self, k: &crate::kernel::Kernel) -> &'static str {
        match self.then {
            Some((h, t)) if k.was(h) => t,
            _ => self.text_on(k.version),
        }
    }

    /// The historical variant under which the line reads differently, if any.
    pub fn historical_variant(&self) -> Option<crate::kernel::Historical> {
        self.then.map(|(h, _)| h)
    }

    /// The words on kernel version `v`.
    pub fn text_on(&self, v: crate::kernel::Version) -> &'static str {
        match (v, self.v64) {
            (crate::kernel::Version::V6_4, Some(t)) => t,
            _ => self.text,
        }
    }

    /// Whether the line reads differently on v6.3 and v6.4.
    pub fn differs(&self) -> bool {
        self.v64.is_some()
    }
}

/// Kernel condition for a listing line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum When {
    Always,
    V63,
    V64,
    /// Only with this what-if mutation.
    WhatIf(crate::kernel::Mutation),
    /// Only without this what-if mutation.
    Unless(crate::kernel::Mutation),
    /// Only under this historical variant.
    Historical(crate::kernel::Historical),
    /// Only without this historical variant (the fixed kernel's line).
    Fixed(crate::kernel::Historical),
}

impl When {
    pub fn applies(self, k: &crate::kernel::Kernel) -> bool {
        match self {
            When::Always => true,
            When::V63 => !k.is_v64(),
            When::V64 => k.is_v64(),
            When::WhatIf(m) => k.has(m),
            When::Unless(m) => !k.has(m),
            When::Historical(h) => k.was(h),
            When::Fixed(h) => !k.was(h),
        }
    }
}

pub use crate::ops::Listing;

/// A position in a listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct LineRef {
    pub listing: Listing,
    pub line: u16,
}

impl LineRef {
    pub fn info(self) -> Line {
        crate::ops::line(self)
    }
}

/// Something a lock did in this step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum LockEvent {
    Acquired {
        thread: Tid,
        lock: LockId,
        #[serde(skip_serializing_if = "Option::is_none")]
        mode: Option<RwMode>,
    },
    Released {
        thread: Tid,
        lock: LockId,
    },
    /// The thread queued (rwsem / folio wait queue) and sleeps.
    Waiting {
        thread: Tid,
        lock: LockId,
        #[serde(skip_serializing_if = "Option::is_none")]
        mode: Option<RwMode>,
    },
    /// A sleeper was handed the lock or woken by the releaser.
    Woken {
        thread: Tid,
        lock: LockId,
    },
    /// A trylock failed (v6.4 `vma_start_read`).
    TryFailed {
        thread: Tid,
        lock: LockId,
    },
}

/// One field that changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "what", rename_all = "kebab-case")]
pub enum Change {
    VmFlags {
        vma: u32,
        old: u64,
        new: u64,
    },
    VmPageProt {
        vma: u32,
        old: u64,
        new: u64,
    },
    /// A VMA was created by a split (or its bounds changed).
    VmaBounds {
        vma: u32,
        start: u64,
        end: u64,
    },
    Pmd {
        addr: u64,
        old: u64,
        new: u64,
    },
    Pte {
        table_pfn: u64,
        index: u16,
        addr: u64,
        old: u64,
        new: u64,
    },
    /// A PTE table was filled while not yet visible (the THP split's local work).
    TableFilled {
        table_pfn: u64,
        entries: u16,
    },
    Tlb {
        cpu: usize,
        vaddr: u64,
        old: Option<TlbEntry>,
        new: Option<TlbEntry>,
    },
    Folio {
        pfn: u64,
        field: &'static str,
        old: String,
        new: String,
    },
    Data {
        pfn: u64,
        old: u64,
        new: u64,
    },
    Counter {
        name: &'static str,
        old: i64,
        new: i64,
    },
}

/// An event the invariants look at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A user write reached memory through a translation.
    WriteCompleted { addr: u64, pfn: u64, value: u64 },
    /// A user read returned a value.
    ReadCompleted { addr: u64, pfn: u64, value: u64 },
    /// A thread's operation returned.
    OpReturned { op: String, result: i64 },
    /// A thread was killed by SIGSEGV.
    Segv { addr: u64, code: &'static str },
}

/// Everything one step did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StepRecord {
    /// 0-based position in the trace.
    pub index: usize,
    pub thread: Tid,
    /// The operation, e.g. `mprotect(0x7f0000000000, 0x4000, PROT_READ)`.
    pub op: String,
    /// The pseudo-code line this step executed.
    pub line: LineRef,
    pub func: &'static str,
    pub file: &'static str,
    pub line_text: &'static str,
    /// One sentence in plain words.
    pub explanation: String,
    pub locks: Vec<LockEvent>,
    pub changes: Vec<Change>,
    pub events: Vec<Event>,
    /// Invariants this step broke for the first time in the trace (ids).
    pub violations: Vec<&'static str>,
    /// Every invariant violated in the state after this step.
    pub violated: Vec<&'static str>,
}
