//! The machine's shared state: mm (mmap_lock, VMAs), page tables, folios, CPUs with TLBs.
//!
//! Everything here is plain data. Every field that can change while a scenario runs is part
//! of the canonical state hash (see [`crate::hash`]); the static parts of a scenario (thread
//! names, operation lists) live in [`crate::machine::Spec`] and are shared, not hashed. The
//! containers that let the explorer clone and key states cheaply (copy-on-write parts with
//! memoised digests) are in [`crate::cow`].

use crate::vec_map::VecMap;
use std::collections::VecDeque;

use serde::Serialize;

pub use crate::cow::{FlushOwed, Owed, PageVec, PteEntries, Shared, OWED_CHUNK};
use crate::pte::{self, PAGE_SHIFT, PMD_SHIFT};

/// A thread index (position in the scenario's thread list).
pub type Tid = usize;

/// A list of threads (lock readers, waiters). Its hash writes each id as a u64: a derived
/// hash of `Vec<usize>` writes the slice's raw bytes, which are 4 bytes per id on wasm32
/// and 8 natively — and would make state hashes differ between the browser and the CLI.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TidList(pub Vec<Tid>);

impl std::hash::Hash for TidList {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u64(self.0.len() as u64);
        for &t in &self.0 {
            h.write_u64(t as u64);
        }
    }
}

impl std::ops::Deref for TidList {
    type Target = Vec<Tid>;
    fn deref(&self) -> &Vec<Tid> {
        &self.0
    }
}

impl std::ops::DerefMut for TidList {
    fn deref_mut(&mut self) -> &mut Vec<Tid> {
        &mut self.0
    }
}

/// The page (4 KiB) containing `addr`.
pub fn page_of(addr: u64) -> u64 {
    addr & !(pte::PAGE_SIZE - 1)
}
/// Index of the PMD entry covering `addr` (one per 2 MiB of address space).
pub fn pmd_index(addr: u64) -> u64 {
    addr >> PMD_SHIFT
}
/// Index of the PTE covering `addr` within its table.
pub fn pte_index(addr: u64) -> u16 {
    ((addr >> PAGE_SHIFT) & 511) as u16
}
/// The 2 MiB-aligned base of `addr`.
pub fn pmd_base(addr: u64) -> u64 {
    addr & !(pte::PMD_SIZE - 1)
}
/// With split PMD ptlocks (x86-64), one PMD lock per page of PMD entries: 1 GiB of space.
pub fn pmd_lock_index(addr: u64) -> u64 {
    addr >> 30
}

/// A lock that a thread can hold, wait for, or be blocked on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum LockId {
    /// `mm->mmap_lock`, a reader/writer semaphore.
    MmapLock,
    /// v6.4 per-VMA lock (`vma->vm_lock`), by VMA id.
    VmaLock { vma: u32 },
    /// Split PTE-table lock (`pte_lockptr`), by the table page's pfn.
    Ptl { table_pfn: u64 },
    /// PMD lock (`pmd_lockptr`), by 1 GiB region.
    PmdLock { region: u64 },
    /// `PG_locked` of the folio with this head pfn.
    Folio { pfn: u64 },
}

impl LockId {
    pub fn name(&self) -> String {
        match self {
            LockId::MmapLock => "mmap_lock".into(),
            LockId::VmaLock { vma } => format!("vma_lock(vma#{vma})"),
            LockId::Ptl { table_pfn } => format!("PT lock (table pfn {table_pfn:#x})"),
            LockId::PmdLock { region } => format!("PMD lock ({:#x})", region << 30),
            LockId::Folio { pfn } => format!("folio lock (pfn {pfn:#x})"),
        }
    }
}

/// How an rwsem is wanted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RwMode {
    Read,
    Write,
}

/// A reader/writer semaphore with a FIFO wait list (`struct rw_semaphore`).
///
/// Modelled on `kernel/locking/rwsem.c`: a reader or writer takes the lock at once only when
/// it is free for it *and nobody is queued* (a queued waiter makes `rwsem_read_trylock` fail
/// with RWSEM_FLAG_WAITERS); otherwise it queues and sleeps. `up_*` hands the lock over
/// (`rwsem_mark_wake`): to the writer at the head of the queue, or to every queued reader.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct RwSem {
    pub readers: TidList,
    pub writer: Option<Tid>,
    pub waiters: VecDeque<(Tid, RwMode)>,
}

impl RwSem {
    pub fn is_free_for(&self, mode: RwMode) -> bool {
        if !self.waiters.is_empty() || self.writer.is_some() {
            return false;
        }
        mode == RwMode::Read || self.readers.is_empty()
    }

    /// Grant the lock to the waiters that may have it now; returns who was woken.
    pub fn wake(&mut self) -> Vec<(Tid, RwMode)> {
        let mut woken = Vec::new();
        if self.writer.is_some() {
            return woken;
        }
        match self.waiters.front() {
            Some(&(t, RwMode::Write)) if self.readers.is_empty() => {
                self.waiters.pop_front();
                self.writer = Some(t);
                woken.push((t, RwMode::Write));
            }
            Some(&(_, RwMode::Read)) => {
                // rwsem_mark_wake wakes every reader in the queue, not only those in front.
                let mut rest = VecDeque::new();
                while let Some((t, m)) = self.waiters.pop_front() {
                    if m == RwMode::Read {
                        self.readers.push(t);
                        woken.push((t, m));
                    } else {
                        rest.push_back((t, m));
                    }
                }
                self.waiters = rest;
            }
            _ => {}
        }
        woken
    }
}

/// A VMA (`struct vm_area_struct`), with the v6.4 per-VMA lock state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Vma {
    /// Stable identity for display and for the per-VMA lock (a split creates a new id).
    pub id: u32,
    pub start: u64,
    pub end: u64,
    pub vm_flags: u64,
    pub vm_page_prot: u64,
    /// Whether the VMA has an anon_vma (faulted before); v6.4's `lock_vma_under_rcu`
    /// refuses VMAs without one.
    pub anon_vma: bool,
    /// Set on VMAs created or shrunk by an mprotect split, for the UI.
    pub split_by_mprotect: bool,
    /// v6.4 per-VMA lock: faults holding it for read.
    pub lock_readers: TidList,
    /// v6.4: `vm_lock_seq == mm->mm_lock_seq`, i.e. write-locked until mmap_write_unlock.
    pub write_locked: bool,
    /// v6.4: a `vma_start_write` waiting for readers to drain.
    pub lock_writer_waiting: Option<Tid>,
}

impl Vma {
    pub fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }
}

/// A PTE-table page: 512 entries, stored sparsely (absent = 0), and its split PT lock.
///
/// The entries are shared copy-on-write (`Arc`): the explorer clones a machine per state,
/// and most steps leave most tables alone. Write through [`PteTable::entries_mut`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct PteTable {
    pub entries: std::sync::Arc<PteEntries>,
    pub ptl: Option<Tid>,
}

impl PteTable {
    pub fn entries_mut(&mut self) -> &mut PteEntries {
        std::sync::Arc::make_mut(&mut self.entries)
    }

    pub fn get(&self, idx: u16) -> u64 {
        self.entries.get(&idx).copied().unwrap_or(0)
    }
}

/// The page tables below the PUD level: PMD entries (one per 2 MiB, raw values), the PTE
/// tables they point at (keyed by the table page's pfn), tables deposited for THPs
/// (`pgtable_trans_huge_deposit`), and the PMD locks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct PageTables {
    pub pmds: VecMap<u64, u64>,
    pub tables: VecMap<u64, PteTable>,
    /// PMD index → pfn of the PTE table deposited for the huge PMD there.
    pub deposited: VecMap<u64, u64>,
    /// PMD-lock region → holder.
    pub pmd_locks: VecMap<u64, Tid>,
    /// Next pfn handed out for a page-table page (deterministic allocator).
    pub next_table_pfn: u64,
}

impl PageTables {
    pub fn pmd(&self, addr: u64) -> u64 {
        self.pmds.get(&pmd_index(addr)).copied().unwrap_or(0)
    }
    /// The PTE table the PMD covering `addr` points at, if it points at one.
    pub fn table_of(&self, addr: u64) -> Option<u64> {
        let pmd = self.pmd(addr);
        pte::pmd_is_table(pmd).then(|| pte::pmd_table_pfn(pmd))
    }
    pub fn pte(&self, table_pfn: u64, idx: u16) -> u64 {
        self.tables.get(&table_pfn).map_or(0, |t| t.get(idx))
    }
    pub fn alloc_table(&mut self) -> u64 {
        let pfn = self.next_table_pfn;
        self.next_table_pfn += 1;
        self.tables.insert(pfn, PteTable::default());
        pfn
    }
}

/// A folio (`struct folio`): order 0 or 9, its lock and wait queue, per-page state.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Folio {
    pub pfn: u64,
    pub order: u8,
    /// `PG_locked` holder.
    pub locked: Option<Tid>,
    /// Tasks sleeping in `migration_entry_wait_on_locked` until the folio is unlocked.
    pub waiters: TidList,
    /// Isolated from the LRU by a migration (`folio_isolate_lru`): only one migrator at once.
    pub isolated: bool,
    pub refcount: i32,
    /// `_entire_mapcount` (PMD mappings of the whole THP).
    pub entire_mapcount: i32,
    /// Per-page `_mapcount` + 1 (PTE mappings).
    pub mapcount: PageVec<i32>,
    /// PageAnonExclusive per 4 KiB page.
    pub anon_exclusive: PageVec<bool>,
    /// PG_dirty.
    pub dirty: bool,
    /// One data word per 4 KiB page, so lost writes are observable.
    pub data: PageVec<u64>,
    /// Freed back to the allocator (after migration).
    pub freed: bool,
    /// The shared zero page: never written, never freed.
    pub zero_page: bool,
}

impl Folio {
    pub fn new(pfn: u64, order: u8, exclusive: bool) -> Self {
        let n = 1usize << order;
        Folio {
            pfn,
            order,
            locked: None,
            waiters: TidList::default(),
            isolated: false,
            refcount: 0,
            entire_mapcount: 0,
            mapcount: vec![0; n].into(),
            anon_exclusive: vec![exclusive; n].into(),
            dirty: false,
            data: vec![0; n].into(),
            freed: false,
            zero_page: false,
        }
    }
    pub fn nr_pages(&self) -> u64 {
        1 << self.order
    }
    pub fn contains(&self, pfn: u64) -> bool {
        self.pfn <= pfn && pfn < self.pfn + self.nr_pages()
    }
}

/// One cached translation (`vaddr page → pfn` with the rights the walk found).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct TlbEntry {
    /// Virtual base (4 KiB- or 2 MiB-aligned).
    pub vaddr: u64,
    /// Base pfn of the mapped page (for a huge entry, of the 2 MiB page).
    pub pfn: u64,
    pub writable: bool,
    /// The translation was cached with D set: writes need no further walk.
    pub dirty: bool,
    pub huge: bool,
}

impl TlbEntry {
    pub fn size(&self) -> u64 {
        if self.huge {
            pte::PMD_SIZE
        } else {
            pte::PAGE_SIZE
        }
    }
    pub fn covers(&self, addr: u64) -> bool {
        self.vaddr <= addr && addr < self.vaddr + self.size()
    }
    /// The pfn this entry translates `addr` to.
    pub fn pfn_for(&self, addr: u64) -> u64 {
        self.pfn + ((addr - self.vaddr) >> PAGE_SHIFT)
    }
}

/// A CPU and its TLB.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Cpu {
    pub tlb: Vec<TlbEntry>,
}

impl Cpu {
    pub fn lookup(&self, addr: u64) -> Option<&TlbEntry> {
        self.tlb.iter().find(|e| e.covers(addr))
    }
}

/// The `mm_struct` parts the model needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Mm {
    pub mmap_lock: RwSem,
    /// VMAs sorted by start address.
    pub vmas: Vec<Vma>,
    pub next_vma_id: u32,
    /// `mm->tlb_flush_pending` (inc_/dec_tlb_flush_pending around mprotect's mmu_gather).
    pub tlb_flush_pending: u32,
    /// `mm->tlb_flush_batched`: a deferred (batched) unmap flush is outstanding.
    pub tlb_flush_batched: bool,
}

impl Mm {
    pub fn find_vma(&self, addr: u64) -> Option<&Vma> {
        self.vmas.iter().find(|v| v.contains(addr))
    }
    pub fn vma_index(&self, addr: u64) -> Option<usize> {
        self.vmas.iter().position(|v| v.contains(addr))
    }
    pub fn vma_by_id(&self, id: u32) -> Option<&Vma> {
        self.vmas.iter().find(|v| v.id == id)
    }
    pub fn vma_by_id_mut(&mut self, id: u32) -> Option<&mut Vma> {
        self.vmas.iter_mut().find(|v| v.id == id)
    }
}
