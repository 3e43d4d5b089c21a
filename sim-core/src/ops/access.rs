//! A user load or store, and the x86 page-fault path behind it: the CPU's TLB and hardware
//! walker, `do_user_addr_fault()` (arch/x86/mm/fault.c) and `handle_mm_fault()` →
//! `handle_pte_fault()` with `do_anonymous_page()`, `do_wp_page()`, `do_swap_page()` →
//! `migration_entry_wait()` (mm/memory.c, mm/migrate.c), v6.3/v6.4.
//!
//! Hardware (one step per instruction attempt): a TLB hit with enough rights completes the
//! access; otherwise the walker reads PMD and PTE, sets A (and D for a store) atomically,
//! caches the translation and completes the access; a walk that finds no permission raises
//! #PF, and the faulting CPU drops its TLB entry for the address (Intel SDM 4.10.4.1). A
//! store through a cached translation whose D bit is clear re-walks, as x86 does.
//!
//! Fault locking (docs/kernel-verification.md §1–2, §10): v6.3 takes mmap_lock for read.
//! v6.4 first tries the per-VMA lock (`lock_vma_under_rcu`: anonymous VMAs with an anon_vma
//! only); an access error under it falls back to mmap_lock, and `do_swap_page` returns
//! VM_FAULT_RETRY for every swap PTE under the VMA lock, so PTE migration entries are waited
//! on with mmap_lock held for read — and that hold lasts while the task sleeps.

use crate::flags::{vma_is_accessible, VM_WRITE};
use crate::machine::Machine;
use crate::num::Hex;
use crate::ops::split_huge_pmd;
use crate::ops::{ln, Field, Listing, Operation, Progress, StepMachine};
use crate::pte::{self, MigrationEntry, PAGE_SIZE};
use crate::record::{Event, LineRef, When};
use crate::scenario::{OpCheck, ScenarioError};
use crate::state::{page_of, pmd_base, pte_index, LockId, RwMode, Tid, TlbEntry};

/// A user load from `addr`, as a scenario writes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Read {
    pub addr: Hex,
}

impl Operation for Read {
    const NAME: &'static str = "read";
    const DOC: &'static str = "A user load from `addr`.";
    const FIELDS: &'static [Field] = &[Field::number("addr", "address", "")];
    type State = State;

    fn values(&self) -> Vec<u64> {
        vec![self.addr.0]
    }

    fn from_values(v: &[u64]) -> Self {
        Read { addr: Hex(v[0]) }
    }

    fn label(&self) -> String {
        format!("read({})", self.addr)
    }

    fn check(&self, cx: &mut OpCheck<'_>) -> Result<(), ScenarioError> {
        cx.user_address("addr", self.addr.0)
    }

    fn start(&self) -> State {
        State::new(self.addr.0, None)
    }
}

/// A user store of `value` to `addr`, as a scenario writes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Write {
    pub addr: Hex,
    pub value: Hex,
}

impl Operation for Write {
    const NAME: &'static str = "write";
    const DOC: &'static str = "A user store of `value` to `addr`.";
    const FIELDS: &'static [Field] = &[
        Field::number("addr", "address", ""),
        Field::number("value", "value", "="),
    ];
    type State = State;

    fn values(&self) -> Vec<u64> {
        vec![self.addr.0, self.value.0]
    }

    fn from_values(v: &[u64]) -> Self {
        Write {
            addr: Hex(v[0]),
            value: Hex(v[1]),
        }
    }

    fn label(&self) -> String {
        format!("write({}, {})", self.addr, self.value)
    }

    fn check(&self, cx: &mut OpCheck<'_>) -> Result<(), ScenarioError> {
        cx.user_address("addr", self.addr.0)
    }

    fn start(&self) -> State {
        State::new(self.addr.0, Some(self.value.0))
    }
}

const CPU: &str = "(hardware)";
const FAULT: &str = "arch/x86/mm/fault.c";
const MEM: &str = "mm/memory.c";
const MIG: &str = "mm/migrate.c";
const HUGE: &str = "mm/huge_memory.c";


listing! { Listing::Access;
    TlbHit = ln(0, "TLB hit with enough rights → the load/store completes through the cached translation", "(CPU access)", CPU, When::Always),
    Walk = ln(0, "TLB miss: the page walker reads PMD → PTE; present, user, writable if a store → set A (and D) atomically, fill the TLB, access", "(page walk)", CPU, When::Always),
    PageFault = ln(0, "#PF: do_user_addr_fault(regs, error_code, addr)", "do_user_addr_fault", FAULT, When::Always),
    VmaLock = ln(1, "vma = lock_vma_under_rcu(mm, addr); access_error() → vma_end_read(), fall back to mmap_lock", "lock_vma_under_rcu", MEM, When::V64),
    MmapLock = ln(1, "mmap_read_lock(mm)", "do_user_addr_fault", FAULT, When::Always),
    AccessCheck = ln(1, "vma = find_vma(mm, addr); access_error(error_code, vma)?", "do_user_addr_fault", FAULT, When::Always),
    Segv = ln(1, "bad_area_access_error(): mmap_read_unlock(); force_sig_fault(SIGSEGV, SEGV_ACCERR)", "bad_area_access_error", FAULT, When::Always),
    PmdRead = ln(2, "__handle_mm_fault(): vmf.orig_pmd = pmdp_get_lockless(pmd)", "__handle_mm_fault", MEM, When::Always),
    PteAlloc = ln(2, "pmd_none → __pte_alloc(): pmd_lock(); pmd_populate(new PTE table)", "__pte_alloc", MEM, When::Always),
    PmdMigWait = ln(2, "is_swap_pmd → pmd_migration_entry_wait(): pmd_lock(); still a migration entry → queue on the folio, unlock, sleep", "pmd_migration_entry_wait", MIG, When::Always),
    HugeWp = ln(2, "store to !pmd_write → do_huge_pmd_wp_page(): pmd_lock(); pmd_same; PageAnonExclusive → pmd_mkyoung(pmd_mkdirty()) + maybe_pmd_mkwrite()", "do_huge_pmd_wp_page", HUGE, When::Always),
    HugeSplit = ln(2, "not exclusive → __split_huge_pmd() and fall back to PTEs", "do_huge_pmd_wp_page", HUGE, When::Always),
    HugeTouch = ln(2, "huge_pmd_set_accessed(): pmd_lock(); pmd_same → pmd_mkyoung (+ pmd_mkdirty on a store); unlock", "huge_pmd_set_accessed", HUGE, When::Always),
    PteRead = ln(2, "handle_pte_fault(): vmf->orig_pte = *pte   // no lock", "handle_pte_fault", MEM, When::Always),
    AnonPrepare = ln(3, "pte_none → do_anonymous_page(): load → zero-page PTE; store → alloc page, entry = mk_pte(page, vm_page_prot), VM_WRITE → pte_mkwrite(pte_mkdirty(entry))", "do_anonymous_page", MEM, When::Always),
    AnonSet = ln(3, "pte_offset_map_lock(); still none → page_add_new_anon_rmap (exclusive); set_pte_at(entry)", "do_anonymous_page", MEM, When::Always),
    SwapRetry = ln(3, "!pte_present → do_swap_page(): under the VMA lock return VM_FAULT_RETRY (→ mmap_lock)", "do_swap_page", MEM, When::V64),
    MigWait = ln(3, "migration entry → migration_entry_wait(): PT lock; still migration → queue on the folio, unlock, sleep until folio_unlock()", "migration_entry_wait_on_locked", "mm/filemap.c", When::Always),
    NumaPage = ln(3, "pte_protnone on an accessible VMA → do_numa_page(): PT lock; pte_modify(old, vm_page_prot) + mkyoung (+ pte_mkwrite if it was writable)", "do_numa_page", MEM, When::Always),
    PteLock = ln(3, "spin_lock(vmf->ptl); !pte_same(*pte, orig_pte) → unlock, retry", "handle_pte_fault", MEM, When::Always),
    WpReuse = ln(4, "store to !pte_write → do_wp_page(): PageAnonExclusive → wp_page_reuse(): maybe_mkwrite(pte_mkdirty(pte_mkyoung(orig_pte)), vma)", "do_wp_page", MEM, When::Always),
    WpCopyUnlock = ln(4, "not exclusive → folio_get(); pte_unmap_unlock(); wp_page_copy()", "do_wp_page", MEM, When::Always),
    WpCopyAlloc = ln(4, "wp_page_copy(): allocate the new page, copy the data", "wp_page_copy", MEM, When::Always),
    WpCopySet = ln(4, "spin_lock(ptl); pte_same → ptep_clear_flush(old); set_pte_at_notify(mk_pte(new) + maybe_mkwrite(pte_mkdirty())); page_remove_rmap(old)", "wp_page_copy", MEM, When::Always),
    SetAccess = ln(4, "entry = pte_mkyoung(orig_pte) (+ pte_mkdirty on a store); ptep_set_access_flags()", "handle_pte_fault", MEM, When::Always),
    PteUnlock = ln(3, "pte_unmap_unlock(pte, ptl)", "handle_pte_fault", MEM, When::Always),
    Return = ln(1, "vma_end_read(vma) / mmap_read_unlock(mm); return to user space and retry the access", "do_user_addr_fault", FAULT, When::Always),
}


/// Which lock the fault holds for the VMA tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Held {
    None,
    Mmap,
    Vma(u32),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Pc {
    /// The instruction (re)executes: TLB, walk, or #PF.
    Access,
    VmaLock,
    MmapLock,
    AccessCheck,
    PmdRead,
    PteAlloc,
    PmdMigWait,
    HugeWp {
        orig: u64,
    },
    HugeSplit(split_huge_pmd::State),
    HugeTouch {
        orig: u64,
    },
    PteRead,
    AnonSet {
        entry: u64,
        page: Option<u64>,
    },
    MigWait,
    NumaPage {
        orig: u64,
    },
    PteLock {
        orig: u64,
    },
    WpReuse {
        orig: u64,
    },
    WpCopyUnlock {
        orig: u64,
    },
    WpCopyAlloc {
        orig: u64,
    },
    WpCopySet {
        orig: u64,
        page: u64,
    },
    SetAccess {
        orig: u64,
    },
    PteUnlock,
    Return,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    addr: u64,
    /// `Some(value)` for a store.
    value: Option<u64>,
    pc: Pc,
    held: Held,
    table: u64,
}

impl State {
    pub fn new(addr: u64, value: Option<u64>) -> Self {
        State {
            addr,
            value,
            pc: Pc::Access,
            held: Held::None,
            table: 0,
        }
    }

    fn write(&self) -> bool {
        self.value.is_some()
    }

    pub fn wants(&self, m: &Machine) -> Option<LockId> {
        match &self.pc {
            Pc::PteAlloc | Pc::PmdMigWait | Pc::HugeWp { .. } | Pc::HugeTouch { .. } => {
                Some(Machine::pmd_lock_of(self.addr))
            }
            Pc::HugeSplit(sp) => sp.wants(m),
            Pc::AnonSet { .. }
            | Pc::MigWait
            | Pc::NumaPage { .. }
            | Pc::PteLock { .. }
            | Pc::WpCopySet { .. } => {
                m.pt.table_of(self.addr)
                    .map(|t| LockId::Ptl { table_pfn: t })
            }
            _ => None,
        }
    }

    pub fn position(&self, m: &Machine) -> LineRef {
        at(match &self.pc {
            Pc::Access => L::TlbHit,
            Pc::VmaLock => L::VmaLock,
            Pc::MmapLock => L::MmapLock,
            Pc::AccessCheck => L::AccessCheck,
            Pc::PmdRead => L::PmdRead,
            Pc::PteAlloc => L::PteAlloc,
            Pc::PmdMigWait => L::PmdMigWait,
            Pc::HugeWp { .. } => L::HugeWp,
            Pc::HugeSplit(sp) => return sp.position(m),
            Pc::HugeTouch { .. } => L::HugeTouch,
            Pc::PteRead => L::PteRead,
            Pc::AnonSet { .. } => L::AnonSet,
            Pc::MigWait => L::MigWait,
            Pc::NumaPage { .. } => L::NumaPage,
            Pc::PteLock { .. } => L::PteLock,
            Pc::WpReuse { .. } => L::WpReuse,
            Pc::WpCopyUnlock { .. } => L::WpCopyUnlock,
            Pc::WpCopyAlloc { .. } => L::WpCopyAlloc,
            Pc::WpCopySet { .. } => L::WpCopySet,
            Pc::SetAccess { .. } => L::SetAccess,
            Pc::PteUnlock => L::PteUnlock,
            Pc::Return => L::Return,
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

pub fn step(m: &mut Machine, tid: Tid, s: &mut State) -> Progress {
    let addr = s.addr;
    let write = s.write();
    match std::mem::replace(&mut s.pc, Pc::Return) {
        Pc::Access => access(m, tid, s),

        // v6.4: lock_vma_under_rcu(); an access error under it falls back to mmap_lock.
        Pc::VmaLock => {
            let vma = m.mm.find_vma(addr).map(|v| (v.id, v.anon_vma, v.vm_flags));
            match vma {
                Some((id, true, flags)) if m.vma_start_read(tid, id) => {
                    if access_error(flags, write) {
                        m.vma_end_read(tid, id);
                        s.pc = Pc::MmapLock;
                        m.say(|_| "Under the VMA lock the access is not allowed: vma_end_read() and fall back to mmap_lock.".into());
                    } else {
                        s.held = Held::Vma(id);
                        s.pc = Pc::PmdRead;
                        m.say(|_| "The fault takes the per-VMA lock (no mmap_lock needed).".into());
                    }
                }
                _ => {
                    s.pc = Pc::MmapLock;
                    m.say(|_| "lock_vma_under_rcu fails (VMA write-locked by mprotect, or not eligible): fall back to mmap_lock.".into());
                }
            }
            Progress::Continue(at(L::VmaLock))
        }

        Pc::MmapLock => {
            s.held = Held::Mmap;
            s.pc = Pc::AccessCheck;
            if m.mmap_lock(tid, RwMode::Read) {
                m.say(|_| "The fault takes mmap_lock for read.".into());
            } else {
                m.say(|_| "mmap_lock is held for write (or a writer waits): the fault sleeps in the rwsem queue.".into());
            }
            Progress::Continue(at(L::MmapLock))
        }

        Pc::AccessCheck => {
            let flags = m.mm.find_vma(addr).map(|v| v.vm_flags);
            match flags {
                Some(f) if !access_error(f, write) => {
                    s.pc = Pc::PmdRead;
                    m.say(|_| "find_vma + access_error: the VMA allows this access.".into());
                    Progress::Continue(at(L::AccessCheck))
                }
                _ => {
                    let code = if flags.is_some() {
                        "SEGV_ACCERR"
                    } else {
                        "SEGV_MAPERR"
                    };
                    m.mmap_unlock(tid);
                    s.held = Held::None;
                    m.threads[tid].killed = Some((addr, code));
                    m.event(Event::Segv { addr, code });
                    m.say(|_| format!("access_error: the VMA does not allow this {}: mmap_read_unlock and SIGSEGV ({code}).", if write { "store" } else { "load" }));
                    Progress::Killed(at(L::Segv))
                }
            }
        }

        // __handle_mm_fault(): look at the PMD without a lock.
        Pc::PmdRead => {
            let pmd = m.pmd(addr);
            if pte::pmd_none(pmd) {
                s.pc = Pc::PteAlloc;
                m.say(|_| "No PTE table yet: one will be allocated.".into());
            } else if pte::is_swap_pmd(pmd) {
                s.pc = Pc::PmdMigWait;
                m.say(|_| "The PMD is a migration entry: wait for the migration.".into());
            } else if pte::pmd_trans_huge(pmd) {
                if write && !pte::pmd_write(pmd) {
                    s.pc = Pc::HugeWp { orig: pmd };
                    m.say(|_| "A store to a read-only huge PMD: do_huge_pmd_wp_page.".into());
                } else {
                    s.pc = Pc::HugeTouch { orig: pmd };
                    m.say(|_| "A huge PMD: huge_pmd_set_accessed.".into());
                }
            } else {
                s.pc = Pc::PteRead;
                m.say(|_| "The PMD points at a PTE table: handle_pte_fault.".into());
            }
            Progress::Continue(at(L::PmdRead))
        }

        Pc::PteAlloc => {
            let lock = Machine::pmd_lock_of(addr);
            m.lock(tid, lock);
            if pte::pmd_none(m.pmd(addr)) {
                let t = m.pt.alloc_table();
                m.set_pmd(addr, pte::pmd_populate(t));
            }
            m.unlock(tid, lock);
            s.pc = Pc::PmdRead;
            m.say(|_| {
                "__pte_alloc: under the PMD lock, a new empty PTE table is installed.".into()
            });
            Progress::Continue(at(L::PteAlloc))
        }

        Pc::PmdMigWait => {
            let lock = Machine::pmd_lock_of(addr);
            m.lock(tid, lock);
            let pmd = m.pmd(addr);
            match MigrationEntry::decode(pmd) {
                Some(e) => {
                    let head = m.folio_head(e.pfn).unwrap_or(e.pfn);
                    m.folio_wait(tid, head);
                    m.unlock(tid, lock);
                    s.pc = Pc::Return;
                    m.say(|_| format!("Still a PMD migration entry: queue on folio {head:#x}'s wait queue, drop the PMD lock, sleep (the fault keeps its mmap_lock/VMA lock)."));
                }
                None => {
                    m.unlock(tid, lock);
                    s.pc = Pc::Return;
                    m.say(|_| "The migration entry is gone: retry.".into());
                }
            }
            Progress::Continue(at(L::PmdMigWait))
        }

        Pc::HugeWp { orig } => {
            let lock = Machine::pmd_lock_of(addr);
            m.lock(tid, lock);
            let cur = m.pmd(addr);
            let head = pte::pmd_pfn(orig);
            if cur != orig {
                m.unlock(tid, lock);
                s.pc = Pc::Return;
                m.say(|_| "The PMD changed meanwhile: retry.".into());
            } else if m.anon_exclusive(head) {
                let flags = m.mm.find_vma(addr).map_or(0, |v| v.vm_flags);
                let mut e = pte::pmd_mkyoung(pte::pmd_mkdirty(orig));
                if flags & VM_WRITE != 0 {
                    e = pte::pmd_mkwrite(e);
                }
                m.set_pmd(addr, e);
                m.unlock(tid, lock);
                s.pc = Pc::Return;
                m.say(|_| {
                    format!(
                        "The THP is exclusive: reuse it, the PMD becomes {}.",
                        pte::hex(e)
                    )
                });
            } else {
                m.unlock(tid, lock);
                s.pc = Pc::HugeSplit(split_huge_pmd::State::from_caller(addr));
                m.say(|_| "The THP is shared: split the PMD and fall back to PTEs.".into());
                return Progress::Continue(at(L::HugeSplit));
            }
            Progress::Continue(at(L::HugeWp))
        }

        Pc::HugeSplit(mut sp) => match split_huge_pmd::step(m, tid, &mut sp) {
            Progress::Continue(l) => {
                s.pc = Pc::HugeSplit(sp);
                Progress::Continue(l)
            }
            Progress::Done(l, _) | Progress::Killed(l) => {
                s.pc = Pc::PmdRead;
                Progress::Continue(l)
            }
        },

        Pc::HugeTouch { orig } => {
            let lock = Machine::pmd_lock_of(addr);
            m.lock(tid, lock);
            if m.pmd(addr) == orig && orig & pte::PRESENT != 0 {
                let mut e = pte::pmd_mkyoung(orig);
                if write {
                    e = pte::pmd_mkdirty(e);
                }
                m.set_pmd(addr, e);
                m.say(|_| "huge_pmd_set_accessed marks the huge PMD young.".into());
            } else {
                m.say(|_| "The huge PMD changed under us (pmd_same failed): retry.".into());
            }
            m.unlock(tid, lock);
            s.pc = Pc::Return;
            Progress::Continue(at(L::HugeTouch))
        }

        // handle_pte_fault(): read the PTE without the lock.
        Pc::PteRead => {
            let Some(t) = m.pt.table_of(addr) else {
                s.pc = Pc::PmdRead;
                m.say(|_| "The PMD changed: look again.".into());
                return Progress::Continue(at(L::PteRead));
            };
            s.table = t;
            let orig = m.pte(t, pte_index(addr));
            if pte::pte_none(orig) {
                return anon_prepare(m, s);
            }
            if pte::pte_protnone(orig) {
                s.pc = Pc::NumaPage { orig };
                m.say(|_| "A PROT_NONE PTE in an accessible VMA: do_numa_page.".into());
            } else if !pte::pte_present(orig) {
                if let Held::Vma(id) = s.held {
                    // v6.4: do_swap_page bails out under the VMA lock.
                    m.vma_end_read(tid, id);
                    s.held = Held::None;
                    s.pc = Pc::MmapLock;
                    m.say(|_| "A swap/migration PTE under the per-VMA lock: do_swap_page returns VM_FAULT_RETRY; drop the VMA lock and retry under mmap_lock.".into());
                    return Progress::Continue(at(L::SwapRetry));
                }
                s.pc = Pc::MigWait;
                m.say(|_| {
                    format!(
                        "The PTE is not present ({}): do_swap_page → migration_entry_wait.",
                        pte::describe(orig, pte::Level::Pte)
                    )
                });
            } else {
                s.pc = Pc::PteLock { orig };
                m.say(|_| format!("orig_pte = {}.", pte::hex(orig)));
            }
            Progress::Continue(at(L::PteRead))
        }

        Pc::AnonSet { entry, page } => {
            let t = s.table;
            m.lock(tid, LockId::Ptl { table_pfn: t });
            if pte::pte_none(m.pte(t, pte_index(addr))) {
                if let Some(p) = page {
                    m.page_mapcount(p, 1);
                    m.set_anon_exclusive(p, true);
                    if let Some(v) = m.mm.vma_index(addr) {
                        m.mm.vmas[v].anon_vma = true;
                    }
                }
                m.set_pte(t, pte_index(addr), page_of(addr), entry);
                m.say(|_| format!("The PTE is still none: set_pte_at({}).", pte::hex(entry)));
            } else {
                if let Some(p) = page {
                    m.folio_ref(p, -1);
                    if let Some(f) = m.folio_mut(p) {
                        f.freed = true;
                    }
                }
                m.say(|_| {
                    "Someone populated the PTE meanwhile: release the new page and retry.".into()
                });
            }
            s.pc = Pc::PteUnlock;
            Progress::Continue(at(L::AnonSet))
        }

        Pc::MigWait => {
            let lock = LockId::Ptl { table_pfn: s.table };
            m.lock(tid, lock);
            let cur = m.pte(s.table, pte_index(addr));
            match MigrationEntry::decode(cur) {
                Some(e) => {
                    let head = m.folio_head(e.pfn).unwrap_or(e.pfn);
                    m.folio_wait(tid, head);
                    m.unlock(tid, lock);
                    m.say(|_| format!("Still a migration entry: queue on folio {head:#x}'s wait queue while holding the PT lock, then drop it and sleep (mmap_lock stays held for read)."));
                }
                None => {
                    m.unlock(tid, lock);
                    m.say(|_| "The migration entry is gone: retry the access.".into());
                }
            }
            s.pc = Pc::Return;
            Progress::Continue(at(L::MigWait))
        }

        Pc::NumaPage { orig } => {
            let lock = LockId::Ptl { table_pfn: s.table };
            m.lock(tid, lock);
            let i = pte_index(addr);
            if m.pte(s.table, i) == orig {
                let (prot, _) = m.vma_prot_at(addr).unwrap_or((0, 0));
                let mut e = pte::pte_mkyoung(pte::pte_modify(orig, prot));
                if pte::pte_write(orig) {
                    e = pte::pte_mkwrite(e);
                }
                m.set_pte(s.table, i, page_of(addr), e);
                m.say(|_| {
                    format!(
                        "do_numa_page restores the PTE from vm_page_prot: {}.",
                        pte::hex(e)
                    )
                });
            } else {
                m.say(|_| "The PTE changed: retry.".into());
            }
            m.unlock(tid, lock);
            s.pc = Pc::Return;
            Progress::Continue(at(L::NumaPage))
        }

        Pc::PteLock { orig } => {
            let lock = LockId::Ptl { table_pfn: s.table };
            m.lock(tid, lock);
            let cur = m.pte(s.table, pte_index(addr));
            if cur != orig {
                m.unlock(tid, lock);
                s.pc = Pc::Return;
                m.say(|_| "Under the PT lock the PTE is no longer orig_pte: retry.".into());
            } else if write && !pte::pte_write(orig) {
                let pfn = pte::pte_pfn(orig);
                let zero = m.folio_of(pfn).is_some_and(|f| f.zero_page);
                if !zero && m.anon_exclusive(pfn) {
                    s.pc = Pc::WpReuse { orig };
                    m.say(|_| "A store to a read-only PTE of an exclusive anonymous page: do_wp_page will reuse it.".into());
                } else {
                    s.pc = Pc::WpCopyUnlock { orig };
                    m.say(|_| {
                        "A store to a read-only PTE of a shared page: do_wp_page must copy.".into()
                    });
                }
            } else {
                s.pc = Pc::SetAccess { orig };
                m.say(|_| "The PTE already allows the access (a stale TLB entry faulted): just update A/D.".into());
            }
            Progress::Continue(at(L::PteLock))
        }

        Pc::WpReuse { orig } => {
            let flags = m.mm.find_vma(addr).map_or(0, |v| v.vm_flags);
            let mut e = pte::pte_mkdirty(pte::pte_mkyoung(orig));
            if flags & VM_WRITE != 0 {
                e = pte::pte_mkwrite(e);
            }
            m.set_pte(s.table, pte_index(addr), page_of(addr), e);
            s.pc = Pc::PteUnlock;
            m.say(|_| {
                format!(
                    "wp_page_reuse: maybe_mkwrite(pte_mkdirty(…)) gives {}.",
                    pte::hex(e)
                )
            });
            Progress::Continue(at(L::WpReuse))
        }

        Pc::WpCopyUnlock { orig } => {
            m.folio_ref(pte::pte_pfn(orig), 1);
            m.unlock(tid, LockId::Ptl { table_pfn: s.table });
            s.pc = Pc::WpCopyAlloc { orig };
            m.say(|_| {
                "do_wp_page takes a reference on the old page and drops the PT lock to allocate."
                    .into()
            });
            Progress::Continue(at(L::WpCopyUnlock))
        }

        Pc::WpCopyAlloc { orig } => {
            let old = pte::pte_pfn(orig);
            match m.alloc_page() {
                Some(page) => {
                    let zero = m.folio_of(old).is_some_and(|f| f.zero_page);
                    let v = if zero { 0 } else { m.read_data(old) };
                    m.write_data(page, v);
                    s.pc = Pc::WpCopySet { orig, page };
                    m.say(|_| format!("wp_page_copy allocates pfn {page:#x} and copies the data."));
                }
                None => {
                    m.folio_ref(old, -1);
                    s.pc = Pc::Return;
                    m.say(|_| "No page to allocate (the scenario's alloc_pfns ran out): the fault returns VM_FAULT_OOM and is retried.".into());
                }
            }
            Progress::Continue(at(L::WpCopyAlloc))
        }

        Pc::WpCopySet { orig, page } => {
            let lock = LockId::Ptl { table_pfn: s.table };
            m.lock(tid, lock);
            let i = pte_index(addr);
            let old = pte::pte_pfn(orig);
            if m.pte(s.table, i) == orig {
                let (prot, flags) = m.vma_prot_at(addr).unwrap_or((0, 0));
                let mut e = pte::pte_mkdirty(pte::pfn_pte(page, prot));
                if flags & VM_WRITE != 0 {
                    e = pte::pte_mkwrite(e);
                }
                m.set_pte(s.table, i, page_of(addr), 0);
                m.flush_tlb_range(tid, page_of(addr), page_of(addr) + PAGE_SIZE);
                m.page_mapcount(page, 1);
                m.set_anon_exclusive(page, true);
                m.set_pte(s.table, i, page_of(addr), e);
                m.page_mapcount(old, -1);
                m.folio_ref(old, -1);
                m.say(|_| format!("ptep_clear_flush removes the old translation everywhere; the new exclusive page is mapped: {}.", pte::hex(e)));
            } else {
                m.folio_ref(page, -1);
                if let Some(f) = m.folio_mut(page) {
                    f.freed = true;
                }
                m.say(|_| "The PTE changed meanwhile: drop the copy and retry.".into());
            }
            m.folio_ref(old, -1);
            s.pc = Pc::PteUnlock;
            Progress::Continue(at(L::WpCopySet))
        }

        Pc::SetAccess { orig } => {
            let mut e = pte::pte_mkyoung(orig);
            if write {
                e = pte::pte_mkdirty(e);
            }
            m.set_pte(s.table, pte_index(addr), page_of(addr), e);
            s.pc = Pc::PteUnlock;
            m.say(|_| "ptep_set_access_flags updates A/D (no flush needed on x86).".into());
            Progress::Continue(at(L::SetAccess))
        }

        Pc::PteUnlock => {
            m.unlock(tid, LockId::Ptl { table_pfn: s.table });
            s.pc = Pc::Return;
            m.say(|_| "The fault drops the PT lock.".into());
            Progress::Continue(at(L::PteUnlock))
        }

        Pc::Return => {
            match s.held {
                Held::Vma(id) => m.vma_end_read(tid, id),
                Held::Mmap => m.mmap_unlock(tid),
                Held::None => {}
            }
            s.held = Held::None;
            s.pc = Pc::Access;
            m.say(|_| "The fault handler returns; the instruction is executed again.".into());
            Progress::Continue(at(L::Return))
        }
    }
}

/// x86 `access_error()`: a store needs VM_WRITE; a load needs an accessible VMA.
fn access_error(vm_flags: u64, write: bool) -> bool {
    if write {
        vm_flags & VM_WRITE == 0
    } else {
        !vma_is_accessible(vm_flags)
    }
}

/// The instruction: TLB hit, or hardware walk, or #PF.
fn access(m: &mut Machine, tid: Tid, s: &mut State) -> Progress {
    let addr = s.addr;
    let write = s.write();
    let cpu = m.cpu_of(tid);
    if let Some(e) = m.cpus[cpu].lookup(addr).copied() {
        if !write || (e.writable && e.dirty) {
            let r = complete(m, s, e.pfn_for(addr), true);
            return Progress::Done(at(L::TlbHit), r);
        }
    }
    // The hardware walk.
    let pmd = m.pmd(addr);
    let leaf = if pmd & pte::PRESENT != 0 && pmd & pte::PSE != 0 {
        Some((pmd, true))
    } else if pte::pmd_is_table(pmd) {
        let t = pte::pmd_table_pfn(pmd);
        Some((m.pte(t, pte_index(addr)), false))
    } else {
        None
    };
    if let Some((v, huge)) = leaf {
        let ok = v & pte::PRESENT != 0 && v & pte::USER != 0 && (!write || v & pte::RW != 0);
        if ok {
            // Set A (and D) with a locked RMW, then cache the translation.
            let mut nv = v | pte::ACCESSED;
            if write {
                nv |= pte::DIRTY;
            }
            let base = if huge { pmd_base(addr) } else { page_of(addr) };
            if nv != v {
                if huge {
                    m.set_pmd(addr, nv);
                } else {
                    let t = pte::pmd_table_pfn(pmd);
                    m.set_pte(t, pte_index(addr), base, nv);
                }
            }
            let e = TlbEntry {
                vaddr: base,
                pfn: if huge {
                    pte::pmd_pfn(nv)
                } else {
                    pte::pte_pfn(nv)
                },
                writable: nv & pte::RW != 0,
                dirty: nv & pte::DIRTY != 0,
                huge,
            };
            m.tlb_fill(cpu, e);
            let r = complete(m, s, e.pfn_for(addr), false);
            return Progress::Done(at(L::Walk), r);
        }
    }
    // #PF: the CPU drops its translation for the address.
    m.tlb_drop(cpu, page_of(addr), page_of(addr) + PAGE_SIZE);
    s.pc = if m.kernel().is_v64() {
        Pc::VmaLock
    } else {
        Pc::MmapLock
    };
    let what = if write { "store" } else { "load" };
    m.say(|_| {
        format!(
            "The page walk finds no usable translation for the {what} at {addr:#x}: page fault."
        )
    });
    Progress::Continue(at(L::PageFault))
}

/// The load/store reaches memory at `pfn`. Returns the operation's result: a load's is the
/// word it read (so conditions can ask what a reader saw), a store's is 0.
fn complete(m: &mut Machine, s: &State, pfn: u64, hit: bool) -> i64 {
    let addr = s.addr;
    match s.value {
        Some(v) => {
            m.write_data(pfn, v);
            m.last_write.insert(page_of(addr), v);
            m.event(Event::WriteCompleted {
                addr,
                pfn,
                value: v,
            });
            m.say(|_| {
                format!(
                    "The store of {v:#x} reaches pfn {pfn:#x} through {}.",
                    if hit {
                        "the cached TLB translation"
                    } else {
                        "a fresh page walk"
                    }
                )
            });
            0
        }
        None => {
            let v = m.read_data(pfn);
            m.event(Event::ReadCompleted {
                addr,
                pfn,
                value: v,
            });
            m.say(|_| {
                format!(
                    "The load reads {v:#x} from pfn {pfn:#x} through {}.",
                    if hit {
                        "the cached TLB translation"
                    } else {
                        "a fresh page walk"
                    }
                )
            });
            v as i64
        }
    }
}

/// do_anonymous_page(): prepare the entry (allocation is thread-local work).
fn anon_prepare(m: &mut Machine, s: &mut State) -> Progress {
    let addr = s.addr;
    let (prot, flags) = m.vma_prot_at(addr).unwrap_or((0, 0));
    if s.write() {
        match m.alloc_page() {
            Some(page) => {
                let mut e = pte::pfn_pte(page, prot);
                if flags & VM_WRITE != 0 {
                    e = pte::pte_mkwrite(pte::pte_mkdirty(e));
                }
                s.pc = Pc::AnonSet {
                    entry: e,
                    page: Some(page),
                };
                m.say(|_| {
                    format!(
                        "do_anonymous_page: a zeroed page (pfn {page:#x}) is allocated; entry {}.",
                        pte::hex(e)
                    )
                });
            }
            None => {
                s.pc = Pc::Return;
                m.say(|_| {
                    "No page to allocate (the scenario's alloc_pfns ran out): VM_FAULT_OOM, retry."
                        .into()
                });
            }
        }
    } else {
        let e = pte::pfn_pte(m.zero_pfn(), prot) | pte::SPECIAL;
        s.pc = Pc::AnonSet {
            entry: e,
            page: None,
        };
        m.say(|_| {
            format!(
                "do_anonymous_page: a load maps the shared zero page read-only: {}.",
                pte::hex(e)
            )
        });
    }
    Progress::Continue(at(L::AnonPrepare))
}
