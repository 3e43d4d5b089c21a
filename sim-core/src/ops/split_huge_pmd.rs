//! `split_huge_pmd()` → `__split_huge_pmd()` → `__split_huge_pmd_locked()`
//! (`mm/huge_memory.c`), anonymous THP, freeze = false, v6.3/v6.4.
//!
//! Under the PMD lock: `pmdp_invalidate` (non-present but still huge, then a flush of the
//! 2 MiB range), read write/young/dirty/soft-dirty/uffd-wp/exclusive from the old PMD (or
//! from the PMD migration entry), withdraw the deposited PTE table, fill it with 512 PTEs
//! while it is not yet visible (one step: nobody can see that work), then `pmd_populate`
//! publishes it. From then on the table's own PT lock protects those PTEs.
//!
//! v6.3 builds each PTE with `maybe_mkwrite` (RW iff the VMA has VM_WRITE now), then
//! `pte_mkdirty` if dirty, then `pte_wrprotect` if the PMD was not writable: RW ⇔ PMD
//! writable *and* VM_WRITE. v6.4 (717f95b494ac) uses `pte_mkwrite` iff the PMD was writable.
//! Both carry the dirty bit (docs/kernel-verification.md §5 corrects the notes here).

use crate::flags::VM_WRITE;
use crate::machine::Machine;
use crate::num::Hex;
use crate::ops::{ln, Field, Listing, Operation, Progress, StepMachine};
use crate::pte::{self, MigrationEntry, PMD_SIZE, PTRS_PER_TABLE};
use crate::record::{Change, LineRef, When};
use crate::scenario::{OpCheck, ScenarioError};
use crate::state::{pmd_base, pmd_index, LockId, Tid};

/// `split_huge_pmd(addr)`, as a scenario writes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SplitHugePmd {
    pub addr: Hex,
}

impl Operation for SplitHugePmd {
    const NAME: &'static str = "split_huge_pmd";
    const DOC: &'static str = "`split_huge_pmd(vma, pmd, addr)` (mm/huge_memory.c), as a partial munmap or\nMADV_DONTNEED would call it.";
    const FIELDS: &'static [Field] = &[Field::number("addr", "address", "")];
    type State = State;

    fn values(&self) -> Vec<u64> {
        vec![self.addr.0]
    }

    fn from_values(v: &[u64]) -> Self {
        SplitHugePmd { addr: Hex(v[0]) }
    }

    fn label(&self) -> String {
        format!("split_huge_pmd({})", self.addr)
    }

    fn check(&self, cx: &mut OpCheck<'_>) -> Result<(), ScenarioError> {
        cx.user_address("addr", self.addr.0)
    }

    fn start(&self) -> State {
        State::from_macro(self.addr.0)
    }
}

const F: &str = "mm/huge_memory.c";

listing! { Listing::SplitHugePmd;
    Check = ln(0, "if (is_swap_pmd(*pmd) || pmd_trans_huge(*pmd)) __split_huge_pmd(...)   // lockless check", "split_huge_pmd", "include/linux/huge_mm.h", When::Always),
    Lock = ln(0, "ptl = pmd_lock(mm, pmd); still huge or a migration entry? else unlock, return", "__split_huge_pmd", F, When::Always),
    Invalidate = ln(1, "old_pmd = pmdp_invalidate(vma, haddr, pmd)   // non-present, still huge; flush 2 MiB", "__split_huge_pmd_locked", F, When::Always),
    Build = ln(1, "read write/young/dirty/soft_dirty/uffd_wp/anon_exclusive from old_pmd; pgtable_trans_huge_withdraw(); 512 × { mk_pte(page + i, READ_ONCE(vm_page_prot)); maybe_mkwrite, mkdirty, wrprotect if !write; set_pte_at() } into the unpublished table", "__split_huge_pmd_locked", F, When::Always)
        .v64("read write/young/dirty/soft_dirty/uffd_wp/anon_exclusive from old_pmd; pgtable_trans_huge_withdraw(); 512 × { mk_pte(page + i, READ_ONCE(vm_page_prot)); pte_mkwrite if write, mkdirty if dirty; set_pte_at() } into the unpublished table"),
    BuildMigration = ln(1, "PMD migration entry: 512 PTE migration entries (write / read-exclusive / read, young, dirty)", "__split_huge_pmd_locked", F, When::Always),
    Populate = ln(1, "smp_wmb(); pmd_populate(mm, pmd, pgtable)   // the new PTE table becomes visible", "__split_huge_pmd_locked", F, When::Always),
    Unlock = ln(0, "spin_unlock(ptl)", "__split_huge_pmd", F, When::Always),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Pc {
    Check,
    Lock,
    Invalidate,
    Build {
        old: u64,
    },
    /// `head` is the THP's head pfn for a present PMD (None for a migration entry).
    Populate {
        table: u64,
        head: Option<u64>,
    },
    Unlock,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    haddr: u64,
    pc: Pc,
}

impl State {
    /// `split_huge_pmd(vma, pmd, addr)`: the macro's lockless check comes first.
    pub fn from_macro(addr: u64) -> Self {
        State {
            haddr: pmd_base(addr),
            pc: Pc::Check,
        }
    }

    /// `__split_huge_pmd()` called directly (change_pmd_range, vma_adjust_trans_huge).
    pub fn from_caller(addr: u64) -> Self {
        State {
            haddr: pmd_base(addr),
            pc: Pc::Lock,
        }
    }

    pub fn wants(&self, _m: &Machine) -> Option<LockId> {
        match self.pc {
            Pc::Lock => Some(Machine::pmd_lock_of(self.haddr)),
            _ => None,
        }
    }

    pub fn position(&self, m: &Machine) -> LineRef {
        at(match self.pc {
            Pc::Check => L::Check,
            Pc::Lock => L::Lock,
            Pc::Invalidate => L::Invalidate,
            Pc::Build { old } if pte::is_swap_pmd(old) => L::BuildMigration,
            Pc::Build { .. } => {
                if pte::is_swap_pmd(m.pmd(self.haddr)) {
                    L::BuildMigration
                } else {
                    L::Build
                }
            }
            Pc::Populate { .. } => L::Populate,
            Pc::Unlock => L::Unlock,
        })
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

fn huge_or_migration(pmd: u64) -> bool {
    pte::is_swap_pmd(pmd) || pte::pmd_trans_huge(pmd)
}

pub fn step(m: &mut Machine, tid: Tid, s: &mut State) -> Progress {
    let haddr = s.haddr;
    let lock = Machine::pmd_lock_of(haddr);
    match std::mem::replace(&mut s.pc, Pc::Unlock) {
        Pc::Check => {
            if huge_or_migration(m.pmd(haddr)) {
                s.pc = Pc::Lock;
                m.say(|_| format!("The PMD at {haddr:#x} looks huge: split it."));
                Progress::Continue(at(L::Check))
            } else {
                m.say(|_| format!("The PMD at {haddr:#x} is not huge: nothing to split."));
                Progress::Done(at(L::Check), 0)
            }
        }

        Pc::Lock => {
            m.lock(tid, lock);
            if huge_or_migration(m.pmd(haddr)) {
                s.pc = Pc::Invalidate;
                m.say(|_| {
                    "The PMD lock is held and the PMD is still huge: nobody else can change it now."
                        .into()
                });
                Progress::Continue(at(L::Lock))
            } else {
                m.unlock(tid, lock);
                m.say(|_| "Under the PMD lock the PMD is no longer huge (someone split it first): unlock and return.".into());
                Progress::Done(at(L::Lock), 0)
            }
        }

        // pmdp_invalidate(): in v6.3/v6.4 this runs before the migration-entry test, so a
        // PMD migration entry is "invalidated" too (fixed in v6.10 by 3a5a8d343e1c).
        Pc::Invalidate => {
            let old = m.pmd(haddr);
            m.set_pmd(haddr, pte::pmd_mkinvalid(old));
            m.flush_tlb_range(tid, haddr, haddr + PMD_SIZE);
            s.pc = Pc::Build { old };
            m.say(|_| "pmdp_invalidate: the huge PMD is made non-present (P cleared, PSE kept, so software still sees a huge PMD) and the 2 MiB range is flushed from every TLB, so small and huge translations never coexist.".into());
            Progress::Continue(at(L::Invalidate))
        }

        Pc::Build { old } => build(m, s, old),

        Pc::Populate { table, head } => {
            m.set_pmd(haddr, pte::pmd_populate(table));
            if let Some(head) = head {
                // page_remove_rmap(compound): the PMD mapping is gone; the PTEs map it now.
                m.entire_mapcount(head, -1);
            }
            s.pc = Pc::Unlock;
            m.say(|_| format!("pmd_populate: the PMD now points at the PTE table (pfn {table:#x}); from here on that table's PT lock protects the 512 PTEs."));
            Progress::Continue(at(L::Populate))
        }

        Pc::Unlock => {
            m.unlock(tid, lock);
            m.say(|_| "The split drops the PMD lock.".into());
            Progress::Done(at(L::Unlock), 0)
        }
    }
}

/// Build the 512 entries into the withdrawn (still private) table: purely local work under
/// the PMD lock, so one step.
fn build(m: &mut Machine, s: &mut State, old: u64) -> Progress {
    let haddr = s.haddr;
    let table = match m.pt.deposited.remove(&pmd_index(haddr)) {
        Some(t) => {
            m.pt.tables.get_or_default(t);
            t
        }
        None => m.pt.alloc_table(),
    };
    let v64 = m.kernel().is_v64();
    let (vm_page_prot, vm_flags) = m.vma_prot_at(haddr).unwrap_or((0, 0));
    let mut entries = Vec::with_capacity(PTRS_PER_TABLE as usize);
    let migration = MigrationEntry::decode(old);
    let line;
    if let Some(e) = migration {
        // §3.3: 512 PTE migration entries from the PMD migration entry; no rmap/refcount change.
        for i in 0..PTRS_PER_TABLE {
            let sub = MigrationEntry {
                pfn: e.pfn + i,
                ..e
            };
            entries.push(sub.encode());
        }
        line = L::BuildMigration;
    } else {
        let head = pte::pmd_pfn(old);
        let write = pte::pmd_write(old);
        let young = pte::pmd_young(old);
        let dirty = pte::pmd_dirty(old);
        let soft_dirty = pte::pmd_soft_dirty(old);
        let uffd_wp = pte::pmd_uffd_wp(old);
        let anon_exclusive = m.anon_exclusive(head);
        if dirty {
            if let Some(f) = m.folio_mut(head) {
                f.dirty = true;
            }
        }
        for i in 0..PTRS_PER_TABLE {
            let mut entry = pte::pfn_pte(head + i, vm_page_prot);
            if v64 {
                if write {
                    entry = pte::pte_mkwrite(entry);
                }
            } else if vm_flags & VM_WRITE != 0 {
                // maybe_mkwrite()
                entry = pte::pte_mkwrite(entry);
            }
            if !young {
                entry = pte::pte_mkold(entry);
            }
            if dirty {
                entry = pte::pte_mkdirty(entry);
            }
            if !v64 && !write {
                entry = pte::pte_wrprotect(entry);
            }
            if soft_dirty {
                entry = pte::pte_mksoft_dirty(entry);
            }
            if uffd_wp {
                entry = pte::pte_mkuffd_wp(entry);
            }
            entries.push(entry);
        }
        // page_ref_add(HPAGE_PMD_NR - 1); page_add_anon_rmap per subpage.
        m.folio_ref(head, PTRS_PER_TABLE as i32 - 1);
        if let Some(f) = m.folio_mut(head) {
            for c in f.mapcount.iter_mut() {
                *c += 1;
            }
            if anon_exclusive {
                f.anon_exclusive.iter_mut().for_each(|x| *x = true);
            }
        }
        line = L::Build;
    }
    {
        let t = m.pt.tables.get_or_default(table);
        t.entries_mut().clear();
        for (i, v) in entries.iter().enumerate() {
            t.entries_mut().insert(i as u16, *v);
        }
    }
    if m.log.on {
        m.log.changes.push(Change::TableFilled {
            table_pfn: table,
            entries: PTRS_PER_TABLE as u16,
        });
    }
    s.pc = Pc::Populate {
        table,
        head: migration.is_none().then(|| pte::pmd_pfn(old)),
    };
    let first = entries[0];
    m.say(|_| {
        format!(
            "The deposited PTE table (pfn {table:#x}) is filled with 512 entries while still invisible; entry 0 is {} ({}), each next one maps the next 4 KiB page.",
            pte::hex(first),
            pte::describe(first, pte::Level::Pte)
        )
    });
    Progress::Continue(at(line))
}
