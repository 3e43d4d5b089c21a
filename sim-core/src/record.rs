//! What one step reports: the pseudo-code line, the kernel function, a plain-words
//! explanation, lock events and the state diff.

use serde::Serialize;

use crate::state::{LockId, RwMode, Tid, TlbEntry};

/// One line of an operation's pseudo-code listing (our words, kernel names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Line {
    pub text: &'static str,
    /// The kernel function this line belongs to.
    pub func: &'static str,
    /// Its file in the kernel tree.
    pub file: &'static str,
    /// Nesting depth for display.
    pub indent: u8,
    /// Which kernels show this line.
    pub when: When,
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
}

impl When {
    pub fn applies(self, k: &crate::kernel::Kernel) -> bool {
        match self {
            When::Always => true,
            When::V63 => !k.is_v64(),
            When::V64 => k.is_v64(),
            When::WhatIf(m) => k.has(m),
            When::Unless(m) => !k.has(m),
        }
    }
}

/// Which listing a line index refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Listing {
    Mprotect,
    Migrate,
    SplitHugePmd,
    Access,
}

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
