//! Migrating an anonymous folio: `migrate_pages()` → `migrate_pages_batch()` →
//! `migrate_folio_unmap()` / `try_to_migrate_one()` (mm/rmap.c) → `migrate_folio_move()` →
//! `remove_migration_pte()` / `remove_migration_pmd()` (mm/migrate.c, mm/huge_memory.c).
//!
//! The model migrates as compaction (or move_pages(2)'s first, asynchronous pass) does in
//! v6.3/v6.4: MIGRATE_ASYNC with TTU_BATCH_FLUSH, so `try_to_migrate_one` clears each PTE
//! with `ptep_get_and_clear` and only marks the flush pending (`tlb_flush_batched`); the
//! batch flush `try_to_unmap_flush` runs after the unmap phase and before any copy. A
//! PMD-mapped THP is unmapped with `set_pmd_migration_entry`, whose `pmdp_invalidate`
//! flushes at once. No mmap_lock is taken: only the folio locks and the PT/PMD locks order
//! migration against mprotect — which is the whole point of the seed patch.
//!
//! The rmap walk visits the folio's mappings VMA by VMA (an mprotect may have split the
//! VMA), taking the PT lock (or PMD lock) for each.

use crate::flags::VM_WRITE;
use crate::kernel::Mutation;
use crate::machine::Machine;
use crate::num::Hex;
use crate::ops::{ln, Field, Listing, Operation, Progress, StepMachine};
use crate::pte::{self, MigrationEntry, MigrationKind, PAGE_SIZE, PMD_SIZE};
use crate::record::{LineRef, When};
use crate::scenario::{OpCheck, ScenarioError};
use crate::state::{pmd_base, pte_index, Folio, LockId, Tid};

/// Migrating the folio at `addr` to `to_pfn`, as a scenario writes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Migrate {
    pub addr: Hex,
    pub to_pfn: Hex,
}

impl Operation for Migrate {
    const NAME: &'static str = "migrate";
    const DOC: &'static str = "Migrate the anonymous folio mapped at `addr` to the free frame `to_pfn`\n(`migrate_pages`, mm/migrate.c), as compaction or move_pages(2) would.";
    const FIELDS: &'static [Field] = &[
        Field::number("addr", "address", ""),
        Field::number("to_pfn", "target pfn", "-> pfn"),
    ];
    type State = State;

    fn values(&self) -> Vec<u64> {
        vec![self.addr.0, self.to_pfn.0]
    }

    fn from_values(v: &[u64]) -> Self {
        Migrate {
            addr: Hex(v[0]),
            to_pfn: Hex(v[1]),
        }
    }

    fn label(&self) -> String {
        format!("migrate({} → pfn {})", self.addr, self.to_pfn)
    }

    /// The target frames must be free; a THP's target is 512 aligned frames.
    fn check(&self, cx: &mut OpCheck<'_>) -> Result<(), ScenarioError> {
        cx.user_address("addr", self.addr.0)?;
        let huge = cx.in_thp(self.addr.0);
        if huge && self.to_pfn.0 % 512 != 0 {
            return Err(cx.err(
                "to_pfn",
                "the folio at addr is a THP: the target must be 512-page aligned",
            ));
        }
        cx.claim("to_pfn", self.to_pfn.0, if huge { 512 } else { 1 })
    }

    fn start(&self) -> State {
        State::new(self.addr.0, self.to_pfn.0)
    }
}

const MIG: &str = "mm/migrate.c";
const RMAP: &str = "mm/rmap.c";
const HUGE: &str = "mm/huge_memory.c";

listing! { Listing::Migrate;
    Isolate = ln(0, "folio = the folio mapped at addr; folio_isolate_lru(folio); folio_get(folio)", "migrate_pages", MIG, When::Always),
    LockSrc = ln(1, "folio_lock(src)", "migrate_folio_unmap", MIG, When::Always),
    LockDst = ln(1, "dst = get_new_folio(); folio_trylock(dst)", "migrate_folio_unmap", MIG, When::Always),
    UnmapLock = ln(2, "try_to_migrate(src) → rmap walk → page_vma_mapped_walk(): take the PT lock (PMD lock for a huge PMD)", "try_to_migrate_one", RMAP, When::Always),
    UnmapClear = ln(3, "pteval = ptep_get_and_clear(pte); set_tlb_ubc_flush_pending()   // TTU_BATCH_FLUSH: flush deferred", "try_to_migrate_one", RMAP, When::Always),
    UnmapInstall = ln(3, "anon_exclusive → page_try_share_anon_rmap(); entry = pte_write ? writable : anon_exclusive ? readable_exclusive : readable migration entry (+young, +dirty, +swp soft-dirty/uffd-wp); set_pte_at(); page_remove_rmap(); folio_put()", "try_to_migrate_one", RMAP, When::Always),
    PmdInvalidate = ln(3, "set_pmd_migration_entry(): pmdval = pmdp_invalidate(pmd)   // flushes the 2 MiB at once", "set_pmd_migration_entry", HUGE, When::Always),
    PmdInstall = ln(3, "page_try_share_anon_rmap(); set_pmd_at(migration entry of the same type rules); page_remove_rmap(compound)", "set_pmd_migration_entry", HUGE, When::Always),
    UnmapUnlock = ln(2, "page_vma_mapped_walk_done(): drop the PT/PMD lock", "try_to_migrate_one", RMAP, When::Always),
    Flush = ln(1, "try_to_unmap_flush(): flush the deferred TLB entries on every CPU", "migrate_pages_batch", MIG, When::Unless(Mutation::CopyBeforeFlush)),
    Copy = ln(1, "move_to_new_folio(): folio_migrate_mapping(); folio_migrate_copy(dst, src)   // data + flags", "migrate_folio_extra", MIG, When::Always),
    FlushLate = ln(1, "try_to_unmap_flush()   // what-if: only after the copy", "migrate_pages_batch", MIG, When::WhatIf(Mutation::CopyBeforeFlush)),
    RemoveLock = ln(2, "remove_migration_ptes(src, dst) → page_vma_mapped_walk(): take the PT lock (PMD lock for a PMD entry)", "remove_migration_pte", MIG, When::Unless(Mutation::RestoreFromStaleEntry)),
    RemoveBuild = ln(3, "pte = mk_pte(new, READ_ONCE(vma->vm_page_prot)); swp soft-dirty → mksoft_dirty; !young → mkold; dirty → mkdirty; writable → maybe_mkwrite(pte, vma), uffd → mkuffd_wp, else wrprotect", "remove_migration_pte", MIG, When::Unless(Mutation::RestoreFromStaleEntry))
        .v64("pte = mk_pte(new, READ_ONCE(vma->vm_page_prot)); swp soft-dirty → mksoft_dirty; !young → mkold; dirty → mkdirty; writable → pte_mkwrite(pte), else uffd → mkuffd_wp"),
    RemoveSet = ln(3, "page_add_anon_rmap(new, RMAP_EXCLUSIVE unless a read entry); set_pte_at(pte)", "remove_migration_pte", MIG, When::Unless(Mutation::RestoreFromStaleEntry)),
    StaleRead = ln(3, "what-if: entry = *pte (read under the PT lock)", "remove_migration_pte", MIG, When::WhatIf(Mutation::RestoreFromStaleEntry)),
    StaleUnlock = ln(3, "what-if: spin_unlock(ptl)", "remove_migration_pte", MIG, When::WhatIf(Mutation::RestoreFromStaleEntry)),
    StaleRelock = ln(3, "what-if: spin_lock(ptl)", "remove_migration_pte", MIG, When::WhatIf(Mutation::RestoreFromStaleEntry)),
    StaleBuildSet = ln(3, "what-if: pte = mk_pte(new, READ_ONCE(vm_page_prot)) + write bit per version, built from the STALE entry; set_pte_at(pte)", "remove_migration_pte", MIG, When::WhatIf(Mutation::RestoreFromStaleEntry)),
    RemovePmd = ln(3, "remove_migration_pmd(): pmde = mk_huge_pmd(new, READ_ONCE(vm_page_prot)); maybe_pmd_mkwrite; set_pmd_at()", "remove_migration_pmd", HUGE, When::Always)
        .v64("remove_migration_pmd(): pmde = mk_huge_pmd(new, READ_ONCE(vm_page_prot)); pmd_mkwrite; set_pmd_at()"),
    RemoveUnlock = ln(2, "drop the PT/PMD lock", "remove_migration_pte", MIG, When::Always),
    UnlockDst = ln(1, "folio_unlock(dst); folio_put(dst)", "migrate_folio_move", MIG, When::Always),
    UnlockSrc = ln(1, "folio_unlock(src)   // wakes tasks waiting on the migration entries", "migrate_folio_move", MIG, When::Always),
    Free = ln(1, "migrate_folio_done(src): folio_put() frees the old page", "migrate_folio_done", MIG, When::Always),
}


/// Which rmap walk is running.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Walk {
    Unmap,
    Remove,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Pc {
    Isolate,
    LockSrc,
    LockDst,
    /// Start the walk's next VMA segment at `cursor`.
    WalkLock(Walk),
    /// The PMD was split under us: continue at the PTE level (take the PT lock).
    WalkLockPte(Walk),
    /// Next PTE (by address) to look at in the current segment.
    Unmap {
        next: u64,
    },
    UnmapInstall {
        addr: u64,
        pteval: u64,
    },
    PmdInvalidate,
    PmdInstall {
        pmdval: u64,
    },
    Flush {
        late: bool,
    },
    Copy,
    Remove {
        next: u64,
    },
    RemoveSet {
        addr: u64,
        pte: u64,
        exclusive: bool,
    },
    StaleUnlock {
        addr: u64,
        entry: u64,
    },
    StaleRelock {
        addr: u64,
        entry: u64,
    },
    StaleBuildSet {
        addr: u64,
        entry: u64,
    },
    RemovePmd,
    WalkUnlock(Walk),
    UnlockDst,
    UnlockSrc,
    Free,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    addr: u64,
    to_pfn: u64,
    pc: Pc,
    /// Source folio head pfn and size.
    src: u64,
    nr: u64,
    /// Virtual address where the folio's first page is (or would be) mapped.
    va: u64,
    /// Walk cursor and the end of the current VMA segment.
    cursor: u64,
    seg_end: u64,
    /// The lock held for the current segment.
    held: Option<LockId>,
    table: u64,
}

const EFAULT: i64 = -14;
const EBUSY: i64 = -16;

impl State {
    pub fn new(addr: u64, to_pfn: u64) -> Self {
        State {
            addr,
            to_pfn,
            pc: Pc::Isolate,
            src: 0,
            nr: 1,
            va: 0,
            cursor: 0,
            seg_end: 0,
            held: None,
            table: 0,
        }
    }

    pub fn wants(&self, m: &Machine) -> Option<LockId> {
        match &self.pc {
            Pc::LockSrc => Some(LockId::Folio { pfn: self.src }),
            Pc::WalkLock(_) => self.segment_lock(m),
            Pc::WalkLockPte(_) => {
                m.pt.table_of(self.cursor)
                    .map(|t| LockId::Ptl { table_pfn: t })
            }
            Pc::StaleRelock { .. } => Some(LockId::Ptl {
                table_pfn: self.table,
            }),
            _ => None,
        }
    }

    pub fn position(&self, m: &Machine) -> LineRef {
        let stale = m.kernel().has(Mutation::RestoreFromStaleEntry);
        at(match &self.pc {
            Pc::Isolate => L::Isolate,
            Pc::LockSrc => L::LockSrc,
            Pc::LockDst => L::LockDst,
            Pc::WalkLock(Walk::Unmap) | Pc::WalkLockPte(Walk::Unmap) => L::UnmapLock,
            Pc::WalkLock(Walk::Remove) | Pc::WalkLockPte(Walk::Remove) => L::RemoveLock,
            Pc::Unmap { .. } => L::UnmapClear,
            Pc::UnmapInstall { .. } => L::UnmapInstall,
            Pc::PmdInvalidate => L::PmdInvalidate,
            Pc::PmdInstall { .. } => L::PmdInstall,
            Pc::Flush { late: false } => L::Flush,
            Pc::Flush { late: true } => L::FlushLate,
            Pc::Copy => L::Copy,
            Pc::Remove { .. } if stale => L::StaleRead,
            Pc::Remove { .. } => L::RemoveBuild,
            Pc::RemoveSet { .. } => L::RemoveSet,
            Pc::StaleUnlock { .. } => L::StaleUnlock,
            Pc::StaleRelock { .. } => L::StaleRelock,
            Pc::StaleBuildSet { .. } => L::StaleBuildSet,
            Pc::RemovePmd => L::RemovePmd,
            Pc::WalkUnlock(Walk::Unmap) => L::UnmapUnlock,
            Pc::WalkUnlock(Walk::Remove) => L::RemoveUnlock,
            Pc::UnlockDst => L::UnlockDst,
            Pc::UnlockSrc => L::UnlockSrc,
            Pc::Free => L::Free,
        })
    }

    fn va_end(&self) -> u64 {
        self.va + self.nr * PAGE_SIZE
    }

    /// Does the PMD at the folio's address map it as a whole (huge leaf for the unmap walk,
    /// PMD migration entry for the remove walk)? Checked under the PMD lock.
    fn pmd_maps_folio(&self, m: &Machine, walk: Walk) -> bool {
        if self.nr != 512 {
            return false;
        }
        let pmd = m.pmd(self.va);
        match walk {
            Walk::Unmap => {
                pte::pmd_trans_huge(pmd) && pmd & pte::PRESENT != 0 && pte::pmd_pfn(pmd) == self.src
            }
            Walk::Remove => MigrationEntry::decode(pmd).is_some_and(|e| e.pfn == self.src),
        }
    }

    /// The lock `page_vma_mapped_walk` takes for the segment at `cursor`, decided from a
    /// lockless look at the PMD: a huge or PMD-migration entry → the PMD lock (then
    /// re-checked under it); a PTE table → that table's PT lock.
    fn segment_lock(&self, m: &Machine) -> Option<LockId> {
        let pmd = m.pmd(self.cursor);
        if pte::pmd_trans_huge(pmd) || pte::is_swap_pmd(pmd) {
            Some(Machine::pmd_lock_of(self.cursor))
        } else {
            m.pt.table_of(self.cursor)
                .map(|t| LockId::Ptl { table_pfn: t })
        }
    }
}

impl StepMachine for State {
    fn wants(&self, m: &Machine) -> Option<LockId> {
        State::wants(self, m)
    }

    fn position(&self, m: &Machine) -> Vec<LineRef> {
        vec![State::position(self, m)]
    }

    fn step(&mut self, m: &mut Machine, tid: Tid) -> Progress {
        step(m, tid, self)
    }
}

pub fn step(m: &mut Machine, tid: Tid, s: &mut State) -> Progress {
    match std::mem::replace(&mut s.pc, Pc::Free) {
        Pc::Isolate => isolate(m, s),

        Pc::LockSrc => {
            m.lock(tid, LockId::Folio { pfn: s.src });
            s.pc = Pc::LockDst;
            m.say(|_| "Migration locks the source folio (PG_locked): it stays locked until the very end; faults that find a migration entry will sleep on it.".into());
            Progress::Continue(at(L::LockSrc))
        }

        Pc::LockDst => {
            let order = if s.nr == 512 { 9 } else { 0 };
            let mut dst = Folio::new(s.to_pfn, order, false);
            dst.refcount = 1;
            m.folios.insert(s.to_pfn, dst);
            m.folio_change(s.to_pfn, "allocated", "false".into(), "true".into());
            m.lock(tid, LockId::Folio { pfn: s.to_pfn });
            s.cursor = s.va;
            s.pc = Pc::WalkLock(Walk::Unmap);
            m.say(|_| "The destination folio is allocated and locked.".into());
            Progress::Continue(at(L::LockDst))
        }

        Pc::WalkLock(walk) => walk_lock(m, tid, s, walk),

        Pc::WalkLockPte(walk) => {
            let line = match walk {
                Walk::Unmap => L::UnmapLock,
                Walk::Remove => L::RemoveLock,
            };
            match m.pt.table_of(s.cursor) {
                Some(t) => {
                    let l = LockId::Ptl { table_pfn: t };
                    m.lock(tid, l);
                    s.held = Some(l);
                    s.table = t;
                    s.pc = match walk {
                        Walk::Unmap => Pc::Unmap { next: s.cursor },
                        Walk::Remove => Pc::Remove { next: s.cursor },
                    };
                    m.say(|_| format!("The THP was split under us: the walk continues at the PTE level and takes the {}.", l.name()));
                }
                None => {
                    s.pc = Pc::WalkUnlock(walk);
                    m.say(|_| "Nothing is mapped here any more.".into());
                }
            }
            Progress::Continue(at(line))
        }

        Pc::Unmap { next } => unmap_next(m, tid, s, next),

        Pc::UnmapInstall { addr, pteval } => {
            let pfn = pte::pte_pfn(pteval);
            let anon_exclusive = m.anon_exclusive(pfn);
            // Invariant since 5.19: a writable anonymous PTE maps an exclusive page.
            if anon_exclusive {
                // page_try_share_anon_rmap(): nobody pins it in the model, so it succeeds.
                m.set_anon_exclusive(pfn, false);
            }
            let kind = if pte::pte_write(pteval) {
                MigrationKind::Write
            } else if anon_exclusive {
                MigrationKind::ReadExclusive
            } else {
                MigrationKind::Read
            };
            let e = MigrationEntry {
                kind,
                pfn,
                young: pte::pte_young(pteval),
                dirty: pte::pte_dirty(pteval),
                soft_dirty: pte::pte_soft_dirty(pteval),
                uffd_wp: pte::pte_uffd_wp(pteval),
            };
            let v = e.encode();
            m.set_pte(s.table, pte_index(addr), addr, v);
            m.page_mapcount(pfn, -1);
            m.folio_ref(pfn, -1);
            s.pc = Pc::Unmap {
                next: addr + PAGE_SIZE,
            };
            m.say(|_| format!("The PTE for {addr:#x} becomes a {} migration entry {} (young/dirty remembered in the offset).", kind.name(), pte::hex(v)));
            Progress::Continue(at(L::UnmapInstall))
        }

        Pc::PmdInvalidate => {
            let old = m.pmd(s.va);
            m.set_pmd(s.va, pte::pmd_mkinvalid(old));
            m.flush_tlb_range(tid, s.va, s.va + PMD_SIZE);
            if pte::pmd_dirty(old) {
                if let Some(f) = m.folio_mut(s.src) {
                    f.dirty = true;
                }
            }
            s.pc = Pc::PmdInstall { pmdval: old };
            m.say(|_| "set_pmd_migration_entry: pmdp_invalidate makes the huge PMD non-present and flushes the 2 MiB from every TLB.".into());
            Progress::Continue(at(L::PmdInvalidate))
        }

        Pc::PmdInstall { pmdval } => {
            let anon_exclusive = m.anon_exclusive(s.src);
            if anon_exclusive {
                if let Some(f) = m.folio_mut(s.src) {
                    f.anon_exclusive.iter_mut().for_each(|x| *x = false);
                }
            }
            let kind = if pte::pmd_write(pmdval) {
                MigrationKind::Write
            } else if anon_exclusive {
                MigrationKind::ReadExclusive
            } else {
                MigrationKind::Read
            };
            let e = MigrationEntry {
                kind,
                pfn: s.src,
                young: pte::pmd_young(pmdval),
                dirty: pte::pmd_dirty(pmdval),
                soft_dirty: pte::pmd_soft_dirty(pmdval),
                uffd_wp: pte::pmd_uffd_wp(pmdval),
            };
            m.set_pmd(s.va, e.encode());
            m.entire_mapcount(s.src, -1);
            m.folio_ref(s.src, -1);
            s.pc = Pc::WalkUnlock(Walk::Unmap);
            m.say(|_| {
                format!(
                    "The huge PMD becomes a {} PMD migration entry.",
                    kind.name()
                )
            });
            Progress::Continue(at(L::PmdInstall))
        }

        Pc::WalkUnlock(walk) => {
            if let Some(l) = s.held.take() {
                m.unlock(tid, l);
            }
            s.cursor = s.seg_end;
            s.pc = if s.cursor < s.va_end() {
                Pc::WalkLock(walk)
            } else {
                match walk {
                    Walk::Unmap if m.kernel().has(Mutation::CopyBeforeFlush) => Pc::Copy,
                    Walk::Unmap => Pc::Flush { late: false },
                    Walk::Remove => Pc::UnlockDst,
                }
            };
            m.say(|_| "The rmap walk drops the page-table lock.".into());
            Progress::Continue(at(match walk {
                Walk::Unmap => L::UnmapUnlock,
                Walk::Remove => L::RemoveUnlock,
            }))
        }

        Pc::Flush { late } => {
            if m.mm.tlb_flush_batched {
                m.mm.tlb_flush_batched = false;
                m.flush_tlb_all(tid);
                m.say(|_| "try_to_unmap_flush: the deferred flush reaches every CPU; no stale translation of the old page remains.".into());
            } else {
                m.say(|_| "try_to_unmap_flush: nothing deferred is pending.".into());
            }
            s.pc = if late {
                s.cursor = s.va;
                Pc::WalkLock(Walk::Remove)
            } else {
                Pc::Copy
            };
            Progress::Continue(at(if late { L::FlushLate } else { L::Flush }))
        }

        Pc::Copy => {
            for i in 0..s.nr {
                let v = m.read_data(s.src + i);
                m.write_data(s.to_pfn + i, v);
                let ex = m.anon_exclusive(s.src + i);
                if ex {
                    m.set_anon_exclusive(s.to_pfn + i, true);
                }
            }
            let dirty = m.folio_of(s.src).is_some_and(|f| f.dirty);
            if let Some(f) = m.folio_mut(s.to_pfn) {
                f.dirty = dirty;
            }
            let late = m.kernel().has(Mutation::CopyBeforeFlush);
            s.pc = if late {
                Pc::Flush { late: true }
            } else {
                s.cursor = s.va;
                Pc::WalkLock(Walk::Remove)
            };
            let (src, dst) = (s.src, s.to_pfn);
            m.say(|_| format!("The data and the flags (dirty, …) are copied from pfn {src:#x} to pfn {dst:#x}."));
            Progress::Continue(at(L::Copy))
        }

        Pc::Remove { next } => remove_next(m, tid, s, next),

        Pc::RemoveSet {
            addr,
            pte,
            exclusive,
        } => {
            install(m, s, addr, pte, exclusive);
            s.pc = Pc::Remove {
                next: addr + PAGE_SIZE,
            };
            m.say(|_| {
                format!(
                    "The PTE for {addr:#x} is restored as {} ({}).",
                    pte::hex(pte),
                    pte::describe(pte, pte::Level::Pte)
                )
            });
            Progress::Continue(at(L::RemoveSet))
        }

        Pc::StaleUnlock { addr, entry } => {
            m.unlock(tid, LockId::Ptl { table_pfn: s.table });
            s.held = None;
            s.pc = Pc::StaleRelock { addr, entry };
            m.say(|_| "What-if: the restorer drops the PT lock while holding a copy of the migration entry.".into());
            Progress::Continue(at(L::StaleUnlock))
        }

        Pc::StaleRelock { addr, entry } => {
            let l = LockId::Ptl { table_pfn: s.table };
            m.lock(tid, l);
            s.held = Some(l);
            s.pc = Pc::StaleBuildSet { addr, entry };
            m.say(|_| "What-if: the restorer takes the PT lock again.".into());
            Progress::Continue(at(L::StaleRelock))
        }

        Pc::StaleBuildSet { addr, entry } => {
            let e = MigrationEntry::decode(entry).expect("read as a migration entry");
            let new = build_pte(m, s, addr, e);
            install(m, s, addr, new, e.kind != MigrationKind::Read);
            s.pc = Pc::Remove {
                next: addr + PAGE_SIZE,
            };
            m.say(|_| {
                format!(
                    "What-if: the PTE for {addr:#x} is built from the stale {} entry: {} ({}).",
                    e.kind.name(),
                    pte::hex(new),
                    pte::describe(new, pte::Level::Pte)
                )
            });
            Progress::Continue(at(L::StaleBuildSet))
        }

        Pc::RemovePmd => {
            let raw = m.pmd(s.va);
            if let Some(e) = MigrationEntry::decode(raw).filter(|e| e.pfn == s.src) {
                let (prot, flags) = m.vma_prot_at(s.va).unwrap_or((0, 0));
                let dirty_folio = m.folio_of(s.to_pfn).is_some_and(|f| f.dirty);
                let write = e.kind == MigrationKind::Write;
                let mut pmde = pte::mk_huge_pmd(s.to_pfn, prot);
                if e.soft_dirty {
                    pmde = pte::pmd_mksoft_dirty(pmde);
                }
                if m.kernel().is_v64() {
                    if write {
                        pmde = pte::pmd_mkwrite(pmde);
                    }
                    if e.uffd_wp {
                        pmde = pte::pmd_mkuffd_wp(pmde);
                    }
                    if !e.young {
                        pmde = pte::pmd_mkold(pmde);
                    }
                    if dirty_folio && e.dirty {
                        pmde = pte::pmd_mkdirty(pmde);
                    }
                } else {
                    if e.uffd_wp {
                        pmde = pte::pmd_mkuffd_wp(pmde);
                    }
                    if !e.young {
                        pmde = pte::pmd_mkold(pmde);
                    }
                    if dirty_folio && e.dirty {
                        pmde = pte::pmd_mkdirty(pmde);
                    }
                    pmde = if write && flags & VM_WRITE != 0 {
                        pte::pmd_mkwrite(pmde)
                    } else if write {
                        pmde
                    } else {
                        pte::pmd_wrprotect(pmde)
                    };
                }
                let exclusive = e.kind != MigrationKind::Read;
                m.folio_ref(s.to_pfn, 1);
                m.entire_mapcount(s.to_pfn, 1);
                if exclusive {
                    if let Some(f) = m.folio_mut(s.to_pfn) {
                        f.anon_exclusive.iter_mut().for_each(|x| *x = true);
                    }
                }
                m.set_pmd(s.va, pmde);
                m.say(|_| {
                    format!(
                        "remove_migration_pmd restores the huge PMD as {} ({}).",
                        pte::hex(pmde),
                        pte::describe(pmde, pte::Level::Pmd)
                    )
                });
            } else {
                m.say(|_| "The PMD no longer holds this migration entry.".into());
            }
            s.seg_end = s.va_end();
            s.pc = Pc::WalkUnlock(Walk::Remove);
            Progress::Continue(at(L::RemovePmd))
        }

        Pc::UnlockDst => {
            m.unlock(tid, LockId::Folio { pfn: s.to_pfn });
            m.folio_ref(s.to_pfn, -1);
            s.pc = Pc::UnlockSrc;
            m.say(|_| "The destination folio is unlocked.".into());
            Progress::Continue(at(L::UnlockDst))
        }

        Pc::UnlockSrc => {
            m.unlock(tid, LockId::Folio { pfn: s.src });
            s.pc = Pc::Free;
            m.say(|_| "The source folio is unlocked: every task sleeping on one of its migration entries wakes up and retries its access.".into());
            Progress::Continue(at(L::UnlockSrc))
        }

        Pc::Free => {
            m.folio_ref(s.src, -1);
            let src = s.src;
            if let Some(f) = m.folio_mut(src) {
                f.isolated = false;
                if f.refcount <= 0 {
                    f.freed = true;
                }
            }
            m.folio_change(src, "freed", "false".into(), "true".into());
            m.say(|_| format!("The old page (pfn {src:#x}) is freed."));
            Progress::Done(at(L::Free), 0)
        }
    }
}

/// Isolation: find the folio mapped at `addr` (a lockless look, as compaction's pfn scan or
/// move_pages' follow_page find it) and take it off the LRU.
fn isolate(m: &mut Machine, s: &mut State) -> Progress {
    let addr = s.addr;
    let pmd = m.pmd(addr);
    let pfn = if pte::pmd_trans_huge(pmd) && pmd & pte::PRESENT != 0 {
        Some(pte::pmd_pfn(pmd) + ((addr - pmd_base(addr)) >> pte::PAGE_SHIFT))
    } else if let Some(t) = m.pt.table_of(addr) {
        let v = m.pte(t, pte_index(addr));
        (v & pte::PRESENT != 0).then(|| pte::pte_pfn(v))
    } else {
        None
    };
    let folio = pfn.and_then(|p| {
        m.folio_of(p)
            .map(|f| (f.pfn, f.nr_pages(), f.isolated, f.zero_page, p))
    });
    match folio {
        Some((head, nr, false, false, pfn)) => {
            s.src = head;
            s.nr = nr;
            s.va = (addr & !(PAGE_SIZE - 1)) - (pfn - head) * PAGE_SIZE;
            if let Some(f) = m.folio_mut(head) {
                f.isolated = true;
            }
            m.folio_ref(head, 1);
            s.pc = Pc::LockSrc;
            m.say(|_| format!("Migration isolates the folio at pfn {head:#x} (mapped at {addr:#x}) from the LRU and takes a reference."));
            Progress::Continue(at(L::Isolate))
        }
        Some((head, _, true, _, _)) => {
            m.say(|_| {
                format!(
                    "The folio at pfn {head:#x} is already isolated by another migration: -EBUSY."
                )
            });
            Progress::Done(at(L::Isolate), EBUSY)
        }
        _ => {
            m.say(|_| format!("No migratable page is mapped at {addr:#x}: nothing to migrate."));
            Progress::Done(at(L::Isolate), EFAULT)
        }
    }
}

/// Start the next VMA segment of a walk: find the segment and take its lock.
fn walk_lock(m: &mut Machine, tid: Tid, s: &mut State, walk: Walk) -> Progress {
    let line = match walk {
        Walk::Unmap => L::UnmapLock,
        Walk::Remove => L::RemoveLock,
    };
    // The segment: the part of the folio's range inside the VMA at the cursor.
    let seg_end = match m.mm.find_vma(s.cursor) {
        Some(v) => v.end.min(s.va_end()),
        None => {
            // A hole (cannot happen without munmap): skip to the next VMA.
            let next =
                m.mm.vmas
                    .iter()
                    .find(|v| v.start > s.cursor)
                    .map_or(s.va_end(), |v| v.start.min(s.va_end()));
            s.seg_end = next;
            s.pc = Pc::WalkUnlock(walk);
            m.say(|_| "No VMA here: the rmap walk moves on.".into());
            return Progress::Continue(at(line));
        }
    };
    s.seg_end = seg_end;
    match s.segment_lock(m) {
        Some(l @ LockId::PmdLock { .. }) => {
            m.lock(tid, l);
            if s.pmd_maps_folio(m, walk) {
                s.held = Some(l);
                s.seg_end = s.va_end();
                s.pc = match walk {
                    Walk::Unmap => Pc::PmdInvalidate,
                    Walk::Remove => Pc::RemovePmd,
                };
                m.say(|_| {
                    format!(
                        "The rmap walk finds the folio mapped by a PMD and takes the {}.",
                        l.name()
                    )
                });
            } else if m.pt.table_of(s.cursor).is_some() {
                // page_vma_mapped_walk: "THP pmd was split under us: handle on pte level".
                m.unlock(tid, l);
                s.pc = Pc::WalkLockPte(walk);
                m.say(|_| "Under the PMD lock the PMD turns out to be a PTE table now (split under us): drop the PMD lock and go to the PTE level.".into());
            } else {
                m.unlock(tid, l);
                s.pc = Pc::WalkUnlock(walk);
                m.say(|_| {
                    "Under the PMD lock the PMD does not map this folio: nothing to do here.".into()
                });
            }
        }
        Some(l) => {
            m.lock(tid, l);
            s.held = Some(l);
            if let LockId::Ptl { table_pfn } = l {
                s.table = table_pfn;
            }
            s.pc = match walk {
                Walk::Unmap => Pc::Unmap { next: s.cursor },
                Walk::Remove => Pc::Remove { next: s.cursor },
            };
            m.say(|_| format!("The rmap walk takes the {}.", l.name()));
        }
        None => {
            s.pc = Pc::WalkUnlock(walk);
            m.say(|_| "Nothing is mapped in this part of the folio's range.".into());
        }
    }
    Progress::Continue(at(line))
}

/// try_to_migrate_one's PTE loop: clear the next PTE that maps a page of the folio.
fn unmap_next(m: &mut Machine, tid: Tid, s: &mut State, next: u64) -> Progress {
    let found = next_entry(m, s, next, |v| {
        v & pte::PRESENT != 0 && {
            let pfn = pte::pte_pfn(v);
            pfn >= s.src && pfn < s.src + s.nr
        }
    });
    match found {
        Some((addr, v)) => {
            // ptep_get_and_clear + set_tlb_ubc_flush_pending (TTU_BATCH_FLUSH).
            m.set_pte(s.table, pte_index(addr), addr, 0);
            m.mm.tlb_flush_batched = true;
            m.owe_flush(tid, addr, addr + PAGE_SIZE);
            if pte::pte_dirty(v) {
                if let Some(f) = m.folio_mut(s.src) {
                    f.dirty = true;
                }
            }
            s.pc = Pc::UnmapInstall { addr, pteval: v };
            m.say(|_| format!("ptep_get_and_clear: the PTE for {addr:#x} is cleared; the TLB flush is only queued (tlb_flush_batched), so other CPUs may still hold the old translation."));
            Progress::Continue(at(L::UnmapClear))
        }
        None => {
            s.pc = Pc::WalkUnlock(Walk::Unmap);
            step(m, tid, s)
        }
    }
}

/// remove_migration_pte's loop: restore the next migration entry pointing into src.
fn remove_next(m: &mut Machine, tid: Tid, s: &mut State, next: u64) -> Progress {
    let found = next_entry(m, s, next, |v| {
        MigrationEntry::decode(v).is_some_and(|e| e.pfn >= s.src && e.pfn < s.src + s.nr)
    });
    match found {
        Some((addr, v)) => {
            let e = MigrationEntry::decode(v).expect("filtered");
            if m.kernel().has(Mutation::RestoreFromStaleEntry) {
                s.pc = Pc::StaleUnlock { addr, entry: v };
                m.say(|_| format!("What-if: the restorer reads the {} migration entry for {addr:#x} under the PT lock.", e.kind.name()));
                return Progress::Continue(at(L::StaleRead));
            }
            let pte = build_pte(m, s, addr, e);
            s.pc = Pc::RemoveSet {
                addr,
                pte,
                exclusive: e.kind != MigrationKind::Read,
            };
            let k = m.kernel().version.name();
            m.say(|_| format!("remove_migration_pte builds {} from the current vm_page_prot and the {} entry ({k} write rule).", pte::hex(pte), e.kind.name()));
            Progress::Continue(at(L::RemoveBuild))
        }
        None => {
            s.pc = Pc::WalkUnlock(Walk::Remove);
            step(m, tid, s)
        }
    }
}

/// The next PTE at or after `next` in the current segment matching `pred`.
fn next_entry(m: &Machine, s: &State, next: u64, pred: impl Fn(u64) -> bool) -> Option<(u64, u64)> {
    let mut a = next;
    while a < s.seg_end {
        let t = m.pt.table_of(a)?;
        let v = m.pte(t, pte_index(a));
        if pred(v) {
            return Some((a, v));
        }
        a += PAGE_SIZE;
    }
    None
}

/// remove_migration_pte's PTE construction for the dst page that replaces entry `e`.
fn build_pte(m: &Machine, s: &State, addr: u64, e: MigrationEntry) -> u64 {
    let new = s.to_pfn + (e.pfn - s.src);
    let (prot, flags) = m.vma_prot_at(addr).unwrap_or((0, 0));
    let dirty_folio = m.folio_of(s.to_pfn).is_some_and(|f| f.dirty);
    let mut pte = pte::pfn_pte(new, prot);
    if e.soft_dirty {
        pte = pte::pte_mksoft_dirty(pte);
    }
    if !e.young {
        pte = pte::pte_mkold(pte);
    }
    if dirty_folio && e.dirty {
        pte = pte::pte_mkdirty(pte);
    }
    let write = e.kind == MigrationKind::Write;
    if m.kernel().is_v64() {
        if write {
            pte = pte::pte_mkwrite(pte);
        } else if e.uffd_wp {
            pte = pte::pte_mkuffd_wp(pte);
        }
    } else if write {
        // maybe_mkwrite(): "Recheck VMA as permissions can change since migration started".
        if flags & VM_WRITE != 0 {
            pte = pte::pte_mkwrite(pte);
        }
    } else if e.uffd_wp {
        pte = pte::pte_mkuffd_wp(pte);
    } else {
        pte = pte::pte_wrprotect(pte);
    }
    pte
}

/// page_add_anon_rmap (RMAP_EXCLUSIVE unless a read entry) + set_pte_at for a restored PTE.
fn install(m: &mut Machine, s: &State, addr: u64, pte: u64, exclusive: bool) {
    let new = pte::pte_pfn(pte);
    m.folio_ref(new, 1);
    m.page_mapcount(new, 1);
    if exclusive {
        m.set_anon_exclusive(new, true);
    }
    m.set_pte(s.table, pte_index(addr), addr, pte);
}
