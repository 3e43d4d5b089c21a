//! `mprotect(start, len, prot)`: `do_mprotect_pkey` → `mprotect_fixup` → `change_protection`
//! (`mm/mprotect.c`, with `change_huge_pmd` from `mm/huge_memory.c`), v6.3/v6.4.
//!
//! The order that the 2023 patch relies on: under mmap_lock (write) mprotect first publishes
//! `vm_flags`, then `vm_page_prot`, and only then walks the page tables, taking each PTE
//! table's PT lock (or the PMD lock for a huge PMD) and downgrading every entry; the TLB
//! flush comes after the PT locks are dropped and before mmap_lock is released. Anyone who
//! builds an entry from a writable migration entry under the PT lock before the walk reaches
//! it is therefore corrected by the walk, and anyone after it sees the new `vm_page_prot`.
//!
//! Modelled choices (see docs/kernel-verification.md):
//! - v6.4 `vm_flags_reset` write-locks the VMA (`vma_start_write`), waiting for faults that
//!   hold the per-VMA lock; the model does that once per VMA before splitting/publishing.
//! - x86 does not select CONFIG_MMU_GATHER_MERGE_VMAS, so `tlb_end_vma` flushes the range
//!   gathered for each VMA; `tlb_finish_mmu` then drops `tlb_flush_pending`.
//! - `pte_needs_flush` decides whether a changed PTE extends the gathered range (non-present
//!   entries, e.g. migration entries, never need a flush).
//! - The walk visits populated entries only: an empty PTE needs no action without uffd-wp.

use crate::flags::{
    calc_vm_prot_bits, vm_get_page_prot, VM_ACCOUNT, VM_EXEC, VM_READ, VM_SHARED, VM_SOFTDIRTY,
    VM_WRITE,
};
use crate::flags::prot_name;
use crate::kernel::Mutation;
use crate::machine::Machine;
use crate::num::{Hex, Prot};
use crate::ops::split_huge_pmd;
use crate::ops::{ln, Field, Listing, Operation, Progress, StepMachine};
use crate::pte::{self, MigrationEntry, MigrationKind, PAGE_SIZE, PMD_SIZE};
use crate::record::{LineRef, When};
use crate::scenario::limits::{MAX_MPROTECT_LEN, USER_END};
use crate::scenario::{OpCheck, ScenarioError};
use crate::state::{pmd_base, pte_index, LockId, RwMode, Tid};

/// `mprotect(addr, len, prot)`, as a scenario writes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mprotect {
    pub addr: Hex,
    pub len: Hex,
    pub prot: Prot,
}

impl Operation for Mprotect {
    const NAME: &'static str = "mprotect";
    const DOC: &'static str = "`mprotect(addr, len, prot)` (`do_mprotect_pkey`, mm/mprotect.c).";
    const FIELDS: &'static [Field] = &[
        Field::number("addr", "address", ""),
        Field::number("len", "length", ""),
        Field::prot("prot", "protection", ""),
    ];
    type State = State;

    fn values(&self) -> Vec<u64> {
        vec![self.addr.0, self.len.0, u64::from(self.prot.0)]
    }

    fn from_values(v: &[u64]) -> Self {
        Mprotect {
            addr: Hex(v[0]),
            len: Hex(v[1]),
            prot: Prot(v[2] as u32),
        }
    }

    fn label(&self) -> String {
        format!(
            "mprotect({}, {}, {})",
            self.addr,
            self.len,
            prot_name(self.prot.0)
        )
    }

    fn check(&self, cx: &mut OpCheck<'_>) -> Result<(), ScenarioError> {
        let (addr, len) = (self.addr, self.len);
        if addr.0 % PAGE_SIZE != 0 {
            return Err(cx.err(
                "addr",
                format!("{addr} is not page-aligned (mprotect returns -EINVAL)"),
            ));
        }
        if len.0 == 0 || len.0 > MAX_MPROTECT_LEN {
            return Err(cx.err(
                "len",
                format!("must be between 1 and {MAX_MPROTECT_LEN:#x}"),
            ));
        }
        if addr.0.saturating_add(len.0) > USER_END {
            return Err(cx.err("len", "the range runs past the user address space"));
        }
        Ok(())
    }

    fn start(&self) -> State {
        State::new(self.addr.0, self.len.0, self.prot.0)
    }
}

const F1: &str = "mm/mprotect.c";
const F2: &str = "mm/huge_memory.c";
const F3: &str = "include/asm-generic/tlb.h";


listing! { Listing::Mprotect;
    Lock = ln(0, "mmap_write_lock_killable(mm)", "do_mprotect_pkey", F1, When::Always),
    FindVma = ln(0, "vma = vma_find(start); newflags = calc_vm_prot_bits(prot) | (vm_flags & ~(VM_READ|VM_WRITE|VM_EXEC)); tlb_gather_mmu(): tlb_flush_pending++", "do_mprotect_pkey", F1, When::Always),
    Merge = ln(1, "vma_merge(): a neighbour with newflags absorbs the range", "mprotect_fixup", F1, When::Always),
    SplitVma = ln(1, "split_vma() at start / end (a THP straddling the boundary is split first)", "mprotect_fixup", F1, When::Always),
    StartWrite = ln(1, "vma_start_write(vma): wait for faults holding the VMA lock", "vm_flags_reset", "include/linux/mm.h", When::V64),
    PublishFlags = ln(1, "vm_flags_reset(vma, newflags)   // publish vm_flags", "mprotect_fixup", F1, When::Unless(Mutation::MprotectWalkBeforePublish)),
    PublishProt = ln(1, "vma_set_page_prot(vma)          // publish vm_page_prot (WRITE_ONCE)", "mprotect_fixup", F1, When::Unless(Mutation::MprotectWalkBeforePublish)),
    PmdRead = ln(2, "pmd = pmdp_get_lockless(pmd); none → next PMD", "change_pmd_range", F1, When::Always),
    PmdSplit = ln(2, "huge/migration PMD, range not the whole 2 MiB → __split_huge_pmd()", "change_pmd_range", F1, When::Always),
    HugeLock = ln(3, "ptl = __pmd_trans_huge_lock(pmd); no longer huge → unlock, fall back to PTEs", "change_huge_pmd", F2, When::Always),
    HugeMigration = ln(3, "migration PMD: writable → readable-exclusive (offset, A/D kept); set_pmd_at()", "change_huge_pmd", F2, When::Always),
    HugeInvalidate = ln(3, "oldpmd = pmdp_invalidate_ad(vma, addr, pmd)", "change_huge_pmd", F2, When::Always),
    HugeCommit = ln(3, "entry = pmd_modify(oldpmd, newprot) [+ pmd_mkwrite if can_change_pmd_writable]; set_pmd_at(); tlb_flush_pmd_range()", "change_huge_pmd", F2, When::Always),
    HugeUnlock = ln(3, "spin_unlock(ptl)", "change_huge_pmd", F2, When::Always),
    PteLock = ln(3, "pte = pte_offset_map_lock(pmd, &ptl); flush_tlb_batched_pending(mm)", "change_pte_range", F1, When::Unless(Mutation::MprotectNoPtl)),
    PteLockless = ln(3, "pte = pte_offset_map(pmd)   // what-if: no PT lock", "change_pte_range", F1, When::WhatIf(Mutation::MprotectNoPtl)),
    PteStart = ln(4, "oldpte = ptep_modify_prot_start(vma, addr, pte)   // entry reads as none", "change_pte_range", F1, When::Always),
    PteCommit = ln(4, "ptent = pte_modify(oldpte, newprot) [+ pte_mkwrite if can_change_pte_writable]; ptep_modify_prot_commit(); pte_needs_flush → tlb_flush_pte_range()", "change_pte_range", F1, When::Always),
    PteMigration = ln(4, "writable migration entry → make_readable_exclusive_migration_entry(); set_pte_at()", "change_pte_range", F1, When::Always),
    PteUnlock = ln(3, "pte_unmap_unlock(pte, ptl)", "change_pte_range", F1, When::Unless(Mutation::MprotectNoPtl)),
    PteUnmap = ln(3, "pte_unmap(pte)", "change_pte_range", F1, When::WhatIf(Mutation::MprotectNoPtl)),
    LatePublishFlags = ln(1, "vm_flags_reset(vma, newflags)   // what-if: published after the walk", "mprotect_fixup", F1, When::WhatIf(Mutation::MprotectWalkBeforePublish)),
    LatePublishProt = ln(1, "vma_set_page_prot(vma)          // what-if: published after the walk", "mprotect_fixup", F1, When::WhatIf(Mutation::MprotectWalkBeforePublish)),
    EndVma = ln(1, "tlb_end_vma(): flush_tlb_mm_range() over the gathered range", "tlb_end_vma", F3, When::Unless(Mutation::MprotectNoFlush)),
    SkipFlush = ln(1, "(what-if: no TLB flush)", "tlb_end_vma", F3, When::WhatIf(Mutation::MprotectNoFlush)),
    Finish = ln(0, "tlb_finish_mmu(): tlb_flush_pending--", "do_mprotect_pkey", F1, When::Always),
    Unlock = ln(0, "mmap_write_unlock(mm); return", "do_mprotect_pkey", F1, When::Always)
        .v64("mmap_write_unlock(mm): vma_end_write_all(mm), up_write(); return"),
}


/// Where in `do_mprotect_pkey` the thread is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Pc {
    Lock,
    FindVma,
    /// mprotect_fixup for the VMA containing `cur`.
    Fixup,
    /// A THP straddles the split boundary `at`: `__split_huge_pmd` runs first.
    SplitThp {
        at: u64,
        split: split_huge_pmd::State,
    },
    StartWrite,
    PublishFlags,
    PublishProt,
    PmdRead,
    PmdSplit(split_huge_pmd::State),
    HugeLock,
    HugeMigration,
    HugeInvalidate,
    HugeCommit {
        oldpmd: u64,
    },
    HugeUnlock,
    PteLock,
    /// Next PTE index to look at in the current table.
    Pte {
        next: u16,
    },
    PteCommit {
        idx: u16,
        oldpte: u64,
    },
    LatePublishFlags,
    LatePublishProt,
    EndVma,
    Finish,
    Unlock,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    start: u64,
    end: u64,
    prot: u32,
    pc: Pc,
    /// Return value so far (0, -ENOMEM, -EACCES).
    error: i64,
    /// The VMA being changed (id) and the part of the range inside it.
    vma: u32,
    vstart: u64,
    vend: u64,
    newflags: u64,
    /// `newprot` as `change_protection` captured it from `vma->vm_page_prot`.
    newprot: u64,
    /// Address of the PMD slot being walked.
    addr: u64,
    /// PTE table locked (or mapped) for the current slot.
    table: u64,
    /// mmu_gather range for this VMA.
    gather: Option<(u64, u64)>,
}

const ENOMEM: i64 = -12;
const EACCES: i64 = -13;

impl State {
    pub fn new(start: u64, len: u64, prot: u32) -> Self {
        let len = (len + pte::PAGE_SIZE - 1) & !(pte::PAGE_SIZE - 1);
        State {
            start,
            end: start.saturating_add(len),
            prot,
            pc: Pc::Lock,
            error: 0,
            vma: 0,
            vstart: 0,
            vend: 0,
            newflags: 0,
            newprot: 0,
            addr: 0,
            table: 0,
            gather: None,
        }
    }

    pub fn range(&self) -> (u64, u64) {
        (self.start, self.end)
    }

    pub fn wants(&self, m: &Machine) -> Option<LockId> {
        match &self.pc {
            Pc::SplitThp { split, .. } | Pc::PmdSplit(split) => split.wants(m),
            Pc::HugeLock => Some(Machine::pmd_lock_of(self.addr)),
            Pc::PteLock if !m.kernel().has(Mutation::MprotectNoPtl) => {
                m.pt.table_of(self.addr)
                    .map(|t| LockId::Ptl { table_pfn: t })
            }
            _ => None,
        }
    }

    pub fn position(&self, m: &Machine) -> Vec<LineRef> {
        let l = match &self.pc {
            Pc::Lock => L::Lock,
            Pc::FindVma => L::FindVma,
            Pc::Fixup => L::Merge,
            Pc::SplitThp { split, .. } => return vec![at(L::SplitVma), split.position(m)],
            Pc::PmdSplit(split) => return vec![at(L::PmdSplit), split.position(m)],
            Pc::StartWrite => L::StartWrite,
            Pc::PublishFlags => L::PublishFlags,
            Pc::PublishProt => L::PublishProt,
            Pc::PmdRead => L::PmdRead,
            Pc::HugeLock => L::HugeLock,
            Pc::HugeMigration => L::HugeMigration,
            Pc::HugeInvalidate => L::HugeInvalidate,
            Pc::HugeCommit { .. } => L::HugeCommit,
            Pc::HugeUnlock => L::HugeUnlock,
            Pc::PteLock if m.kernel().has(Mutation::MprotectNoPtl) => L::PteLockless,
            Pc::PteLock => L::PteLock,
            Pc::Pte { .. } => L::PteStart,
            Pc::PteCommit { .. } => L::PteCommit,
            Pc::LatePublishFlags => L::LatePublishFlags,
            Pc::LatePublishProt => L::LatePublishProt,
            Pc::EndVma if m.kernel().has(Mutation::MprotectNoFlush) => L::SkipFlush,
            Pc::EndVma => L::EndVma,
            Pc::Finish => L::Finish,
            Pc::Unlock => L::Unlock,
        };
        vec![at(l)]
    }
}

/// One step of `do_mprotect_pkey`.
impl StepMachine for State {
    fn wants(&self, m: &Machine) -> Option<LockId> {
        State::wants(self, m)
    }

    fn position(&self, m: &Machine) -> Vec<LineRef> {
        State::position(self, m)
    }

    fn step(&mut self, m: &mut Machine, tid: Tid) -> Progress {
        step(m, tid, self)
    }

    fn protection_change(&self) -> Option<(u64, u64)> {
        Some(self.range())
    }
}

pub fn step(m: &mut Machine, tid: Tid, s: &mut State) -> Progress {
    let walk_first = m.kernel().has(Mutation::MprotectWalkBeforePublish);
    match std::mem::replace(&mut s.pc, Pc::Lock) {
        // 1. mmap_write_lock_killable(): sleep behind readers (faults) if need be.
        Pc::Lock => {
            s.pc = Pc::FindVma;
            if m.mmap_lock(tid, RwMode::Write) {
                m.say(|_| "mprotect takes mmap_lock for write: VMAs cannot change under it and no new fault can start.".into());
            } else {
                m.say(|_| "mmap_lock is taken: mprotect sleeps in the rwsem wait queue.".into());
            }
            Progress::Continue(at(L::Lock))
        }

        // 2. Find the first VMA; tlb_gather_mmu() bumps tlb_flush_pending.
        Pc::FindVma => {
            let old = m.mm.tlb_flush_pending;
            m.mm.tlb_flush_pending += 1;
            m.counter("tlb_flush_pending", old as i64, old as i64 + 1);
            match m.mm.find_vma(s.start) {
                Some(v) if v.start <= s.start && s.start < s.end => {
                    s.pc = Pc::Fixup;
                    s.addr = s.start;
                    m.say(|_| "mprotect finds the first VMA of the range and starts an mmu_gather (tlb_flush_pending++).".into());
                }
                _ => {
                    s.error = if s.start >= s.end { 0 } else { ENOMEM };
                    s.pc = Pc::Finish;
                    m.say(|_| {
                        "No VMA covers the start of the range: mprotect will return -ENOMEM.".into()
                    });
                }
            }
            Progress::Continue(at(L::FindVma))
        }

        // 3. mprotect_fixup() for the VMA containing s.addr (the loop of for_each_vma_range).
        Pc::Fixup => fixup(m, s),

        Pc::SplitThp {
            at: boundary,
            mut split,
        } => {
            let pos = split.position(m);
            match split_huge_pmd::step(m, tid, &mut split) {
                Progress::Continue(l) => {
                    s.pc = Pc::SplitThp {
                        at: boundary,
                        split,
                    };
                    Progress::Continue(l)
                }
                _ => {
                    // The straddling THP is now PTE-mapped: retry the fixup, which splits
                    // the VMA.
                    s.pc = Pc::Fixup;
                    Progress::Continue(pos)
                }
            }
        }

        // v6.4: vm_flags_reset() write-locks the VMA; waits for faults under its lock.
        Pc::StartWrite => {
            s.pc = if walk_first {
                Pc::PmdRead
            } else {
                Pc::PublishFlags
            };
            if walk_first {
                begin_walk(m, s);
            }
            if m.vma_start_write(tid, s.vma) {
                m.say(|_| "vma_start_write: the VMA is now write-locked; page faults under the per-VMA lock fall back to mmap_lock.".into());
            } else {
                m.say(|_| {
                    "vma_start_write: a fault holds the VMA lock; mprotect waits for it to finish."
                        .into()
                });
            }
            Progress::Continue(at(L::StartWrite))
        }

        // 4. Publish vm_flags.
        Pc::PublishFlags => {
            m.set_vm_flags(s.vma, s.newflags);
            s.pc = Pc::PublishProt;
            m.say(|_| {
                "vm_flags gets the new protection first; the page tables still carry the old one."
                    .into()
            });
            Progress::Continue(at(L::PublishFlags))
        }

        // 5. Publish vm_page_prot (WRITE_ONCE; restorers read it with READ_ONCE, no lock).
        Pc::PublishProt => {
            let prot = vm_get_page_prot(s.newflags);
            m.set_vm_page_prot(s.vma, prot);
            begin_walk(m, s);
            s.pc = Pc::PmdRead;
            m.say(|_| format!("vm_page_prot becomes {}: anyone building a PTE from it from now on gets the new protection.", pte::hex(prot)));
            Progress::Continue(at(L::PublishProt))
        }

        // 6. change_pmd_range(): one PMD slot at a time, lockless first look.
        Pc::PmdRead => {
            if s.addr >= s.vend {
                // The walk of this VMA is over: go straight on (no shared access here).
                s.pc = if walk_first {
                    Pc::LatePublishFlags
                } else {
                    Pc::EndVma
                };
                return step(m, tid, s);
            }
            let pmd = m.pmd(s.addr);
            let next = (pmd_base(s.addr) + PMD_SIZE).min(s.vend);
            if pte::pmd_none(pmd) {
                m.say(|_| "The PMD slot is empty: nothing to change here.".into());
                s.addr = next;
                s.pc = Pc::PmdRead;
            } else if pte::is_swap_pmd(pmd) || pte::pmd_trans_huge(pmd) {
                let whole = s.addr == pmd_base(s.addr) && next - s.addr == PMD_SIZE;
                if whole {
                    s.pc = Pc::HugeLock;
                    m.say(|_| "A huge PMD covers the whole 2 MiB: change_huge_pmd() will change it in one go.".into());
                } else {
                    s.pc = Pc::PmdSplit(split_huge_pmd::State::from_caller(s.addr));
                    m.say(|_| {
                        "A huge PMD only partly in the range: it must be split into PTEs first."
                            .into()
                    });
                }
            } else {
                s.pc = Pc::PteLock;
                m.say(|_| "The PMD points at a PTE table: change_pte_range() walks it.".into());
            }
            Progress::Continue(at(L::PmdRead))
        }

        Pc::PmdSplit(mut split) => match split_huge_pmd::step(m, tid, &mut split) {
            Progress::Continue(l) => {
                s.pc = Pc::PmdSplit(split);
                Progress::Continue(l)
            }
            Progress::Done(l, _) | Progress::Killed(l) => {
                s.pc = Pc::PteLock;
                Progress::Continue(l)
            }
        },

        // change_huge_pmd(): take the PMD lock; a concurrent split may have won.
        Pc::HugeLock => {
            let lock = Machine::pmd_lock_of(s.addr);
            m.lock(tid, lock);
            let pmd = m.pmd(s.addr);
            if pte::is_swap_pmd(pmd) {
                s.pc = Pc::HugeMigration;
                m.say(|_| "mprotect holds the PMD lock; the PMD is a migration entry.".into());
            } else if pte::pmd_trans_huge(pmd) {
                s.pc = Pc::HugeInvalidate;
                m.say(|_| "mprotect holds the PMD lock and the PMD is still huge.".into());
            } else {
                m.unlock(tid, lock);
                s.pc = Pc::PteLock;
                m.say(|_| "Under the PMD lock the PMD is no longer huge (a split won the race): change_huge_pmd returns 0 and mprotect falls back to change_pte_range.".into());
            }
            Progress::Continue(at(L::HugeLock))
        }

        Pc::HugeMigration => {
            let raw = m.pmd(s.addr);
            if let Some(mut e) = MigrationEntry::decode(raw) {
                if e.kind == MigrationKind::Write {
                    e.kind = MigrationKind::ReadExclusive;
                    // v6.3 keeps the swap uffd-wp bit here; v6.4 drops it.
                    if m.kernel().is_v64() {
                        e.uffd_wp = false;
                    }
                    m.set_pmd(s.addr, e.encode());
                }
            }
            s.pc = Pc::HugeUnlock;
            m.say(|_| "A writable PMD migration entry becomes readable-exclusive; PFN and young/dirty stay in the offset. No flush: the entry is not present.".into());
            Progress::Continue(at(L::HugeMigration))
        }

        Pc::HugeInvalidate => {
            let oldpmd = m.pmd(s.addr);
            m.set_pmd(s.addr, pte::pmd_mkinvalid(oldpmd));
            m.owe_flush(tid, pmd_base(s.addr), pmd_base(s.addr) + PMD_SIZE);
            s.pc = Pc::HugeCommit { oldpmd };
            m.say(|_| "pmdp_invalidate_ad: the huge PMD is made non-present (but stays huge, never empty) so the CPU can no longer set A/D.".into());
            Progress::Continue(at(L::HugeInvalidate))
        }

        Pc::HugeCommit { oldpmd } => {
            let mut entry = pte::pmd_modify(oldpmd, s.newprot);
            let flags = m.mm.vma_by_id(s.vma).map_or(0, |v| v.vm_flags);
            if wants_write_upgrade(flags)
                && !pte::pmd_write(entry)
                && m.anon_exclusive(pte::pmd_pfn(oldpmd))
                && !pte::pte_protnone(entry)
            {
                entry = pte::pmd_mkwrite(entry);
            }
            m.set_pmd(s.addr, entry);
            if pte::huge_pmd_needs_flush(oldpmd, entry) {
                gather(m, tid, s, pmd_base(s.addr), pmd_base(s.addr) + PMD_SIZE);
            }
            s.pc = Pc::HugeUnlock;
            m.say(|_| {
                format!(
                    "The huge PMD gets the new protection: {}.",
                    pte::describe(entry, pte::Level::Pmd)
                )
            });
            Progress::Continue(at(L::HugeCommit))
        }

        Pc::HugeUnlock => {
            m.unlock(tid, Machine::pmd_lock_of(s.addr));
            s.addr = (pmd_base(s.addr) + PMD_SIZE).min(s.vend);
            s.pc = Pc::PmdRead;
            m.say(|_| "mprotect drops the PMD lock.".into());
            Progress::Continue(at(L::HugeUnlock))
        }

        // change_pte_range(): the PT lock covers the whole table slice.
        Pc::PteLock => {
            let no_ptl = m.kernel().has(Mutation::MprotectNoPtl);
            match m.pt.table_of(s.addr) {
                None => {
                    // pmd_trans_unstable(): the PMD changed under us; nothing to do.
                    s.addr = (pmd_base(s.addr) + PMD_SIZE).min(s.vend);
                    s.pc = Pc::PmdRead;
                    m.say(|_| {
                        "pmd_trans_unstable: the PMD is not a table any more; skip it.".into()
                    });
                }
                Some(table) => {
                    s.table = table;
                    if !no_ptl {
                        m.lock(tid, LockId::Ptl { table_pfn: table });
                        if m.mm.tlb_flush_batched {
                            // flush_tlb_batched_pending(): a deferred unmap flush is
                            // outstanding for this mm; do it now (fix 3ea277194daa).
                            m.mm.tlb_flush_batched = false;
                            m.flush_tlb_range(tid, 0, u64::MAX);
                        }
                    }
                    s.pc = Pc::Pte {
                        next: pte_index(s.addr),
                    };
                    if no_ptl {
                        m.say(|_| {
                            "What-if: mprotect maps the PTE table WITHOUT taking its PT lock."
                                .into()
                        });
                    } else {
                        m.say(|_| "mprotect takes the PTE table's PT lock: migration and faults on this table now wait.".into());
                    }
                }
            }
            let l = if no_ptl { L::PteLockless } else { L::PteLock };
            Progress::Continue(at(l))
        }

        Pc::Pte { next } => pte_next(m, tid, s, next),

        Pc::PteCommit { idx, oldpte } => {
            let addr = page_addr(s.addr, idx);
            let mut ptent = pte::pte_modify(oldpte, s.newprot);
            let flags = m.mm.vma_by_id(s.vma).map_or(0, |v| v.vm_flags);
            if wants_write_upgrade(flags)
                && !pte::pte_write(ptent)
                && can_change_pte_writable(m, flags, ptent)
            {
                ptent = pte::pte_mkwrite(ptent);
            }
            m.set_pte(s.table, idx, addr, ptent);
            if pte::pte_needs_flush(oldpte, ptent) {
                gather(m, tid, s, addr, addr + pte::PAGE_SIZE);
            }
            s.pc = Pc::Pte { next: idx + 1 };
            m.say(|_| {
                format!(
                    "ptep_modify_prot_commit writes {} ({}).",
                    pte::hex(ptent),
                    pte::describe(ptent, pte::Level::Pte)
                )
            });
            Progress::Continue(at(L::PteCommit))
        }

        Pc::LatePublishFlags => {
            m.set_vm_flags(s.vma, s.newflags);
            s.pc = Pc::LatePublishProt;
            m.say(|_| "What-if: vm_flags is published only after the walk.".into());
            Progress::Continue(at(L::LatePublishFlags))
        }

        Pc::LatePublishProt => {
            m.set_vm_page_prot(s.vma, vm_get_page_prot(s.newflags));
            s.pc = Pc::EndVma;
            m.say(|_| "What-if: vm_page_prot is published only after the walk.".into());
            Progress::Continue(at(L::LatePublishProt))
        }

        // tlb_end_vma(): x86 flushes the gathered range at the end of each VMA.
        Pc::EndVma => {
            let no_flush = m.kernel().has(Mutation::MprotectNoFlush);
            let range = s.gather.take();
            match range {
                Some((a, b)) if !no_flush => {
                    m.flush_tlb_range(tid, a, b);
                    m.say(|_| format!("TLB flush of {a:#x}–{b:#x} on every CPU: stale translations are gone."));
                }
                Some(_) => m.say(|_| "What-if: the TLB flush is skipped; CPUs may keep stale writable translations.".into()),
                None => m.say(|_| "Nothing changed that a CPU could have cached: no flush needed.".into()),
            }
            s.addr = s.vend;
            s.pc = if s.vend < s.end {
                Pc::Fixup
            } else {
                Pc::Finish
            };
            let l = if no_flush { L::SkipFlush } else { L::EndVma };
            Progress::Continue(at(l))
        }

        Pc::Finish => {
            let old = m.mm.tlb_flush_pending;
            m.mm.tlb_flush_pending = old.saturating_sub(1);
            m.counter("tlb_flush_pending", old as i64, old as i64 - 1);
            s.pc = Pc::Unlock;
            m.say(|_| "tlb_finish_mmu: tlb_flush_pending--.".into());
            Progress::Continue(at(L::Finish))
        }

        Pc::Unlock => {
            m.mmap_unlock(tid);
            if m.kernel().is_v64() {
                m.vma_end_write_all();
            }
            let r = s.error;
            m.say(|_| format!("mmap_lock released; mprotect returns {r}: from now on user space relies on the new protection."));
            Progress::Done(at(L::Unlock), r)
        }
    }
}

/// mprotect_fixup() for the VMA containing `s.addr`.
fn fixup(m: &mut Machine, s: &mut State) -> Progress {
    let Some(i) = m.mm.vma_index(s.addr) else {
        // A hole in the range.
        s.error = ENOMEM;
        s.pc = Pc::Finish;
        m.say(|_| "A hole in the range: mprotect returns -ENOMEM.".into());
        return Progress::Continue(at(L::Merge));
    };
    let v = m.mm.vmas[i].clone();
    let newflags =
        (v.vm_flags & !(VM_READ | crate::flags::VM_WRITE | VM_EXEC)) | calc_vm_prot_bits(s.prot);
    // Every requested R/W/X bit needs its VM_MAY* bit (newflags >> 4 lines them up).
    if (newflags & !(newflags >> 4)) & (VM_READ | VM_WRITE | VM_EXEC) != 0 {
        s.error = EACCES;
        s.pc = Pc::Finish;
        m.say(|_| "The VMA lacks a VM_MAY* bit for the requested protection: -EACCES.".into());
        return Progress::Continue(at(L::Merge));
    }
    let vstart = s.addr.max(v.start);
    let vend = s.end.min(v.end);
    s.vma = v.id;
    s.vstart = vstart;
    s.vend = vend;
    s.newflags = newflags;
    if newflags == v.vm_flags {
        // Nothing to change in this VMA.
        s.addr = vend;
        s.pc = if vend < s.end { Pc::Fixup } else { Pc::Finish };
        m.say(|_| "The VMA already has these flags: nothing to do.".into());
        return Progress::Continue(at(L::Merge));
    }
    // A THP straddling a split boundary is split first (vma_adjust_trans_huge).
    for boundary in [vstart, vend] {
        let inside = boundary > v.start && boundary < v.end;
        if inside && boundary % PMD_SIZE != 0 {
            let pmd = m.pmd(boundary);
            if pte::pmd_trans_huge(pmd) || pte::is_swap_pmd(pmd) {
                s.pc = Pc::SplitThp {
                    at: boundary,
                    split: split_huge_pmd::State::from_caller(boundary),
                };
                m.say(|_| format!("The new VMA boundary {boundary:#x} cuts a huge PMD: it is split before the VMA is (vma_adjust_trans_huge)."));
                return Progress::Continue(at(L::SplitVma));
            }
        }
    }
    // vma_merge(): a neighbour that already has newflags absorbs the range.
    let mergeable = |w: &crate::state::Vma| {
        w.vm_flags == newflags && w.anon_vma == v.anon_vma && w.vm_flags & VM_SHARED == 0
    };
    let prev_merge = vstart == v.start
        && i > 0
        && m.mm.vmas[i - 1].end == v.start
        && mergeable(&m.mm.vmas[i - 1]);
    let next_merge = vend == v.end
        && i + 1 < m.mm.vmas.len()
        && m.mm.vmas[i + 1].start == v.end
        && mergeable(&m.mm.vmas[i + 1]);
    if prev_merge || next_merge {
        merge(m, s, i, prev_merge, next_merge);
        return Progress::Continue(at(L::Merge));
    }
    // split_vma() at start and at end: the range gets its own VMA.
    let split = vstart != v.start || vend != v.end;
    if split {
        split_vma(m, i, vstart, vend);
    }
    // VM_ACCOUNT: making a private mapping writable charges commit; dropping write keeps it.
    if newflags & VM_WRITE != 0 && v.vm_flags & (VM_ACCOUNT | VM_WRITE | VM_SHARED) == 0 {
        s.newflags |= VM_ACCOUNT;
    }
    s.pc = if m.kernel().is_v64() {
        Pc::StartWrite
    } else if m.kernel().has(Mutation::MprotectWalkBeforePublish) {
        begin_walk(m, s);
        Pc::PmdRead
    } else {
        Pc::PublishFlags
    };
    if split {
        m.say(|_| format!("split_vma: the range {vstart:#x}–{vend:#x} becomes its own VMA."));
        Progress::Continue(at(L::SplitVma))
    } else {
        m.say(|_| "The whole VMA changes protection: no split needed.".into());
        Progress::Continue(at(L::Merge))
    }
}

/// Cut the VMA at index `i` so that [vstart, vend) is a VMA of its own (keeping the id of
/// the part that holds the range, new ids for the rest).
fn split_vma(m: &mut Machine, i: usize, vstart: u64, vend: u64) {
    let v = m.mm.vmas[i].clone();
    let mut pieces = Vec::new();
    if v.start < vstart {
        let mut below = v.clone();
        below.id = m.mm.next_vma_id;
        m.mm.next_vma_id += 1;
        below.end = vstart;
        below.split_by_mprotect = true;
        below.lock_readers.clear();
        below.lock_writer_waiting = None;
        pieces.push(below);
    }
    let mut mid = v.clone();
    mid.start = vstart;
    mid.end = vend;
    mid.split_by_mprotect = true;
    pieces.push(mid);
    if vend < v.end {
        let mut above = v.clone();
        above.id = m.mm.next_vma_id;
        m.mm.next_vma_id += 1;
        above.start = vend;
        above.split_by_mprotect = true;
        above.lock_readers.clear();
        above.lock_writer_waiting = None;
        pieces.push(above);
    }
    if m.log.on {
        for p in &pieces {
            m.log.changes.push(crate::record::Change::VmaBounds {
                vma: p.id,
                start: p.start,
                end: p.end,
            });
        }
    }
    m.mm.vmas.splice(i..=i, pieces);
}

/// vma_merge(): extend the neighbour(s) over the range; the range now lives in a VMA that
/// already has `newflags` (and so its vm_page_prot).
fn merge(m: &mut Machine, s: &mut State, i: usize, prev: bool, next: bool) {
    let v = m.mm.vmas[i].clone();
    let (vstart, vend) = (s.vstart, s.vend);
    let mut changes = Vec::new();
    if prev && next {
        let nend = m.mm.vmas[i + 1].end;
        m.mm.vmas[i - 1].end = nend;
        changes.push((m.mm.vmas[i - 1].id, m.mm.vmas[i - 1].start, nend));
        m.mm.vmas.drain(i..=i + 1);
        s.vma = m.mm.vmas[i - 1].id;
    } else if prev {
        m.mm.vmas[i - 1].end = vend;
        changes.push((m.mm.vmas[i - 1].id, m.mm.vmas[i - 1].start, vend));
        s.vma = m.mm.vmas[i - 1].id;
        if vend == v.end {
            m.mm.vmas.remove(i);
        } else {
            m.mm.vmas[i].start = vend;
            changes.push((v.id, vend, v.end));
        }
    } else {
        m.mm.vmas[i + 1].start = vstart;
        changes.push((m.mm.vmas[i + 1].id, vstart, m.mm.vmas[i + 1].end));
        s.vma = m.mm.vmas[i + 1].id;
        if vstart == v.start {
            m.mm.vmas.remove(i);
        } else {
            m.mm.vmas[i].end = vstart;
            changes.push((v.id, v.start, vstart));
        }
    }
    if m.log.on {
        for (vma, start, end) in changes {
            m.log
                .changes
                .push(crate::record::Change::VmaBounds { vma, start, end });
        }
    }
    s.pc = if m.kernel().is_v64() {
        Pc::StartWrite
    } else if m.kernel().has(Mutation::MprotectWalkBeforePublish) {
        begin_walk(m, s);
        Pc::PmdRead
    } else {
        Pc::PublishFlags
    };
    m.say(|_| {
        format!("vma_merge: a neighbouring VMA with the new flags absorbs {vstart:#x}–{vend:#x}.")
    });
}

/// change_protection(): capture newprot and start the walk of [vstart, vend).
fn begin_walk(m: &Machine, s: &mut State) {
    s.newprot = m.mm.vma_by_id(s.vma).map_or(0, |v| v.vm_page_prot);
    if m.kernel().has(Mutation::MprotectWalkBeforePublish) {
        // The walk runs before vm_page_prot is published: it uses what it would become.
        s.newprot = vm_get_page_prot(s.newflags);
    }
    s.addr = s.vstart;
}

/// Record a changed range in the mmu_gather (flushed at tlb_end_vma).
fn gather(m: &mut Machine, tid: Tid, s: &mut State, a: u64, b: u64) {
    s.gather = Some(match s.gather {
        Some((x, y)) => (x.min(a), y.max(b)),
        None => (a, b),
    });
    m.owe_flush(tid, a, b);
}

fn page_addr(slot_addr: u64, idx: u16) -> u64 {
    pmd_base(slot_addr) + ((idx as u64) << pte::PAGE_SHIFT)
}

/// `vma_wants_manual_pte_write_upgrade` for a private VMA: VM_WRITE.
fn wants_write_upgrade(vm_flags: u64) -> bool {
    vm_flags & VM_WRITE != 0 && vm_flags & VM_SHARED == 0
}

/// `can_change_pte_writable` (mm/mprotect.c) for a private anonymous VMA.
fn can_change_pte_writable(m: &Machine, vm_flags: u64, pte: u64) -> bool {
    if vm_flags & VM_WRITE == 0 || pte::pte_protnone(pte) {
        return false;
    }
    // Soft-dirty tracking on (VM_SOFTDIRTY cleared) needs write faults for clean PTEs.
    if vm_flags & VM_SOFTDIRTY == 0 && !pte::pte_soft_dirty(pte) {
        return false;
    }
    if pte::pte_uffd_wp(pte) {
        return false;
    }
    // vm_normal_page: the zero page is special; only an exclusive anon page qualifies.
    let pfn = pte::pte_pfn(pte);
    pte & pte::SPECIAL == 0
        && m.folio_of(pfn).is_some_and(|f| !f.zero_page)
        && m.anon_exclusive(pfn)
}

/// The PTE loop of change_pte_range(), from index `next`: act on the next populated entry
/// in the range, or unlock when there is none.
fn pte_next(m: &mut Machine, tid: Tid, s: &mut State, next: u16) -> Progress {
    let base = pmd_base(s.addr);
    let slot_end = (base + PMD_SIZE).min(s.vend);
    let last = pte_index(slot_end - 1);
    let found = m
        .pt
        .tables
        .get(&s.table)
        .filter(|_| next <= last)
        .and_then(|t| {
            t.entries
                .range(next..=last)
                .find(|(_, &v)| {
                    pte::pte_present(v)
                        || MigrationEntry::decode(v).is_some_and(|e| e.kind == MigrationKind::Write)
                })
                .map(|(&i, &v)| (i, v))
        });
    match found {
        Some((idx, v)) if pte::pte_present(v) => {
            // ptep_modify_prot_start(): atomically read and clear; the entry reads as none
            // until the commit, so hardware A/D updates cannot be lost.
            let addr = page_addr(s.addr, idx);
            m.set_pte(s.table, idx, addr, 0);
            // CPUs may keep the old translation until mprotect's flush: allowed, because
            // mprotect has not returned.
            m.owe_flush(tid, addr, addr + pte::PAGE_SIZE);
            s.pc = Pc::PteCommit { idx, oldpte: v };
            m.say(|_| format!("ptep_modify_prot_start clears the PTE for {addr:#x} (was {}); it reads as none until the commit.", pte::hex(v)));
            Progress::Continue(at(L::PteStart))
        }
        Some((idx, v)) => {
            let addr = page_addr(s.addr, idx);
            let mut e = MigrationEntry::decode(v).expect("filtered above");
            // Anonymous folio: readable-exclusive, same offset (PFN, young, dirty); the swap
            // soft-dirty bit is kept; v6.3 also keeps swap uffd-wp, v6.4 drops it.
            e.kind = MigrationKind::ReadExclusive;
            if m.kernel().is_v64() {
                e.uffd_wp = false;
            }
            let new = e.encode();
            m.set_pte(s.table, idx, addr, new);
            s.pc = Pc::Pte { next: idx + 1 };
            m.say(|_| format!("The writable migration entry for {addr:#x} becomes readable-exclusive ({}): whoever restores it will not make it writable.", pte::hex(new)));
            Progress::Continue(at(L::PteMigration))
        }
        None => {
            let no_ptl = m.kernel().has(Mutation::MprotectNoPtl);
            if !no_ptl {
                m.unlock(tid, LockId::Ptl { table_pfn: s.table });
            }
            s.addr = slot_end;
            s.pc = Pc::PmdRead;
            m.say(|_| "mprotect is done with this PTE table and drops its PT lock.".into());
            Progress::Continue(at(if no_ptl { L::PteUnmap } else { L::PteUnlock }))
        }
    }
}
