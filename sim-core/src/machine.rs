//! The machine: shared state + threads, `step(thread)`, and the primitives the operations use
//! to touch shared state (each logs what it changed, so a step record is exact).

use crate::vec_map::VecMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::Serialize;

use crate::hash::StableHasher;
use crate::invariants::{self, Violation};
use crate::kernel::Kernel;
use crate::ops::{self, OpSpec, OpState, Progress};
use crate::pte;
use crate::record::{Change, Event, LineRef, LockEvent, StepRecord};
use crate::state::{
    pmd_index, pmd_lock_index, Cpu, FlushOwed, Folio, LockId, Mm, PageTables, RwMode, Shared, Tid,
    TlbEntry,
};

/// The static part of a machine: what the scenario fixed. Shared between clones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub kernel: Kernel,
    pub threads: Vec<ThreadSpec>,
    pub cpus: usize,
    /// The scenario's condition, checked against its threads (the explorer decides it).
    pub condition: Option<Arc<crate::condition::Compiled>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadSpec {
    pub name: String,
    pub cpu: usize,
    pub ops: Vec<OpSpec>,
}

/// Why a sleeping thread sleeps (it is not runnable until the waker clears this).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "on", rename_all = "kebab-case")]
pub enum Wait {
    /// Queued on an rwsem (mmap_lock) until handed the lock.
    Rwsem { lock: LockId, mode: RwMode },
    /// v6.4 `vma_start_write` waiting for the VMA's readers to drain.
    VmaWrite { vma: u32 },
    /// `migration_entry_wait_on_locked`: asleep until the folio is unlocked.
    FolioUnlock { pfn: u64 },
}

/// A thread's dynamic state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Thread {
    pub op_index: usize,
    pub op: Option<OpState>,
    pub waiting: Option<Wait>,
    /// Locks held, in acquisition order.
    pub held: Vec<LockId>,
    /// Set when killed by SIGSEGV: (address, si_code).
    pub killed: Option<(u64, &'static str)>,
    /// Return values of the finished operations.
    pub results: Vec<i64>,
}

/// A thread's status as the UI and the scheduler see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Status {
    Runnable,
    /// Spinning on, or sleeping for, a lock or folio.
    Blocked {
        reason: String,
        lock: LockId,
    },
    Done,
    Killed {
        addr: u64,
        code: &'static str,
    },
}

/// Why `step` refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("there is no thread {0}")]
    NoSuchThread(Tid),
    #[error("thread {thread} is blocked: {reason}")]
    Blocked { thread: Tid, reason: String },
    #[error("thread {0} has finished")]
    Finished(Tid),
    #[error("the step limit ({0}) is reached")]
    StepLimit(usize),
}

/// Per-step log, filled by the mutation primitives when recording is on.
#[derive(Clone, Debug, Default)]
pub struct Log {
    pub on: bool,
    pub changes: Vec<Change>,
    pub locks: Vec<LockEvent>,
    pub events: Vec<Event>,
    pub explanation: String,
}

/// The zero page's frame; page-table pages are allocated from the frames after it. The
/// scenario validator keeps user frames out of [`RESERVED_PFNS`].
pub const ZERO_PFN: u64 = 0x1000;
pub const FIRST_TABLE_PFN: u64 = 0x1001;
pub const RESERVED_PFNS: std::ops::Range<u64> = 0x1000..0x2000;

/// The most steps one trace may have.
pub const MAX_STEPS: usize = 100_000;

/// The simulated machine.
#[derive(Clone, Debug)]
pub struct Machine {
    pub spec: Arc<Spec>,
    pub mm: Shared<Mm>,
    pub pt: Shared<PageTables>,
    /// Folios by head pfn.
    pub folios: Shared<VecMap<u64, Folio>>,
    pub cpus: Shared<Vec<Cpu>>,
    /// Each shared copy-on-write: a step changes one thread's state.
    pub threads: Vec<Shared<Thread>>,
    /// Frames handed out by the page allocator, in order (scenario `alloc_pfns`).
    pub alloc_pfns: Vec<u64>,
    pub alloc_next: usize,
    /// Last completed user write per page (for `lost-write`).
    pub last_write: Shared<VecMap<u64, u64>>,
    /// Flushes owed: (thread, start, end) of entries changed whose TLB flush is deferred.
    pub flush_owed: FlushOwed,
    // --- not part of the canonical state ---
    /// Steps taken so far.
    pub steps: usize,
    /// First step at which each invariant broke.
    pub broken: VecMap<&'static str, usize>,
    pub log: Log,
    /// Invariant results of the previous step (see `invariants::InvCache`).
    pub(crate) inv_cache: Option<invariants::InvCache>,
    /// PTE addresses written since the last invariant check.
    pub(crate) touched_ptes: Vec<u64>,
}

impl Hash for Machine {
    /// The canonical state: everything that influences the future, nothing of the history.
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.mm.hash(h);
        self.pt.hash(h);
        self.folios.hash(h);
        self.cpus.hash(h);
        self.threads.hash(h);
        self.alloc_next.hash(h);
        self.last_write.hash(h);
        self.flush_owed.hash(h);
    }
}

impl PartialEq for Machine {
    fn eq(&self, o: &Self) -> bool {
        self.mm == o.mm
            && self.pt == o.pt
            && self.folios == o.folios
            && self.cpus == o.cpus
            && self.threads == o.threads
            && self.alloc_next == o.alloc_next
            && self.last_write == o.last_write
            && self.flush_owed == o.flush_owed
    }
}

impl Machine {
    pub fn kernel(&self) -> &Kernel {
        &self.spec.kernel
    }

    /// The canonical state hash (identical natively and in wasm).
    pub fn state_hash(&self) -> u64 {
        let mut h = StableHasher::new();
        self.hash(&mut h);
        h.finish()
    }

    // ------------------------------------------------------------------ scheduling

    pub fn status(&self, tid: Tid) -> Status {
        let t = &self.threads[tid];
        if let Some((addr, code)) = t.killed {
            return Status::Killed { addr, code };
        }
        if t.op.is_none() && t.op_index >= self.spec.threads[tid].ops.len() {
            return Status::Done;
        }
        if let Some(w) = t.waiting {
            let (lock, reason) = match w {
                Wait::Rwsem { lock, mode } => (
                    lock,
                    format!(
                        "sleeping in the {} wait queue ({})",
                        lock.name(),
                        if mode == RwMode::Read {
                            "read"
                        } else {
                            "write"
                        }
                    ),
                ),
                Wait::VmaWrite { vma } => (
                    LockId::VmaLock { vma },
                    format!("vma_start_write: waiting for faults holding vma#{vma}'s lock"),
                ),
                Wait::FolioUnlock { pfn } => (
                    LockId::Folio { pfn },
                    format!("sleeping on the migration entry until folio {pfn:#x} is unlocked"),
                ),
            };
            return Status::Blocked { reason, lock };
        }
        if let Some(op) = &t.op {
            if let Some(lock) = op.wants(self) {
                if let Some(holder) = self.holder(lock) {
                    if holder != tid {
                        return Status::Blocked {
                            reason: format!(
                                "waiting for the {} held by {}",
                                lock.name(),
                                self.spec.threads[holder].name
                            ),
                            lock,
                        };
                    }
                }
            }
        }
        Status::Runnable
    }

    /// The lock or folio `tid` is blocked on: the `lock` of [`Status::Blocked`], without
    /// building its explanation (the UI asks this for every thread on every step).
    pub fn blocked_on(&self, tid: Tid) -> Option<LockId> {
        let t = &self.threads[tid];
        if t.killed.is_some() {
            return None;
        }
        if let Some(w) = t.waiting {
            return Some(match w {
                Wait::Rwsem { lock, .. } => lock,
                Wait::VmaWrite { vma } => LockId::VmaLock { vma },
                Wait::FolioUnlock { pfn } => LockId::Folio { pfn },
            });
        }
        let lock = t.op.as_ref()?.wants(self)?;
        self.holder(lock).is_some_and(|h| h != tid).then_some(lock)
    }

    /// Whether `tid` can take a step now (the same answer as `status`, without building the
    /// explanation strings: the explorer asks this for every state).
    pub fn is_runnable(&self, tid: Tid) -> bool {
        let t = &self.threads[tid];
        if t.killed.is_some() || t.waiting.is_some() {
            return false;
        }
        match &t.op {
            None => t.op_index < self.spec.threads[tid].ops.len(),
            Some(op) => match op.wants(self) {
                Some(lock) => self.holder(lock).is_none_or(|h| h == tid),
                None => true,
            },
        }
    }

    pub fn runnable(&self) -> Vec<Tid> {
        (0..self.threads.len())
            .filter(|&t| self.is_runnable(t))
            .collect()
    }

    /// Every thread finished (done or killed).
    /// Done or killed.
    pub fn is_finished(&self, tid: Tid) -> bool {
        let t = &self.threads[tid];
        t.killed.is_some() || (t.op.is_none() && t.op_index >= self.spec.threads[tid].ops.len())
    }

    pub fn all_finished(&self) -> bool {
        (0..self.threads.len()).all(|t| self.is_finished(t))
    }

    /// No thread can run but some have not finished.
    pub fn deadlocked(&self) -> bool {
        self.runnable().is_empty() && !self.all_finished()
    }

    /// Where thread `tid` is: the listing lines (outermost first) its next step executes.
    pub fn position(&self, tid: Tid) -> Vec<LineRef> {
        match &self.threads[tid].op {
            Some(op) => op.position(self),
            None => Vec::new(),
        }
    }

    /// Address ranges whose protection change is in flight (an mprotect that has started
    /// and not returned), with the thread doing it.
    pub fn protection_changes_in_flight(&self) -> Vec<(Tid, u64, u64)> {
        self.threads
            .iter()
            .enumerate()
            .filter_map(|(i, t)| {
                t.op.as_ref()
                    .and_then(|o| o.protection_change())
                    .map(|(s, e)| (i, s, e))
            })
            .collect()
    }

    /// Take one step of thread `tid`, recording what happened.
    pub fn step(&mut self, tid: Tid) -> Result<StepRecord, StepError> {
        self.step_inner(tid, true)
    }

    /// Take one step without building the explanation and diff (for the explorer).
    /// Returns the invariants violated in the state after the step.
    pub fn step_quiet(&mut self, tid: Tid) -> Result<Vec<&'static str>, StepError> {
        self.step_inner(tid, false).map(|r| r.violated)
    }

    fn step_inner(&mut self, tid: Tid, record: bool) -> Result<StepRecord, StepError> {
        if tid >= self.threads.len() {
            return Err(StepError::NoSuchThread(tid));
        }
        if self.steps >= MAX_STEPS {
            return Err(StepError::StepLimit(MAX_STEPS));
        }
        match self.status(tid) {
            Status::Runnable => {}
            Status::Blocked { reason, .. } => {
                return Err(StepError::Blocked {
                    thread: tid,
                    reason,
                })
            }
            Status::Done | Status::Killed { .. } => return Err(StepError::Finished(tid)),
        }
        self.log = Log {
            on: record,
            ..Log::default()
        };
        let spec = Arc::clone(&self.spec);
        let op_spec = &spec.threads[tid].ops[self.threads[tid].op_index];
        let mut st = match self.threads[tid].op.take() {
            Some(st) => st,
            None => OpState::start(op_spec),
        };
        let progress = ops::step(self, tid, &mut st);
        let line = match progress {
            Progress::Continue(line) => {
                self.threads[tid].op = Some(st);
                line
            }
            Progress::Done(line, result) => {
                let t = &mut self.threads[tid];
                t.results.push(result);
                t.op_index += 1;
                // Obligations of the returning operation end with it: a flush it never
                // did is now visible to user space.
                self.flush_owed.retain(|&(o, _, _)| o != tid);
                if self.log.on {
                    self.log.events.push(Event::OpReturned {
                        op: op_spec.label(),
                        result,
                    });
                }
                line
            }
            Progress::Killed(line) => {
                self.flush_owed.retain(|&(o, _, _)| o != tid);
                line
            }
        };
        let index = self.steps;
        self.steps += 1;
        let violations = invariants::check_after_step_cached(self);
        let mut ids = Vec::new();
        let mut new_ids = Vec::new();
        for Violation { id, .. } in &violations {
            if !ids.contains(id) {
                ids.push(*id);
            }
            if !self.broken.contains_key(id) {
                self.broken.insert(id, index);
                new_ids.push(*id);
            }
        }
        // Canonical order (the cache may list problems in another order than a full check).
        crate::vec_map::sort_small_by_key(&mut ids, |id| *id);
        crate::vec_map::sort_small_by_key(&mut new_ids, |id| *id);
        let info = line.info();
        let log = std::mem::take(&mut self.log);
        Ok(StepRecord {
            index,
            thread: tid,
            op: if record {
                op_spec.label()
            } else {
                String::new()
            },
            line,
            func: info.func,
            file: info.file,
            line_text: info.text(&self.spec.kernel),
            explanation: log.explanation,
            locks: log.locks,
            changes: log.changes,
            events: log.events,
            violations: new_ids,
            violated: ids,
        })
    }

    // ------------------------------------------------------------------ narration

    /// Set the step's one-sentence explanation (built only when recording).
    pub fn say(&mut self, f: impl FnOnce(&Machine) -> String) {
        if self.log.on {
            self.log.explanation = f(self);
        }
    }

    /// Record an event; always on, because the invariants read this step's events.
    pub fn event(&mut self, e: Event) {
        self.log.events.push(e);
    }

    pub fn thread_name(&self, tid: Tid) -> &str {
        &self.spec.threads[tid].name
    }

    // ------------------------------------------------------------------ locks

    /// Who holds a spin/folio lock (for rwsems: the writer, or the first reader).
    pub fn holder(&self, lock: LockId) -> Option<Tid> {
        match lock {
            LockId::MmapLock => self
                .mm
                .mmap_lock
                .writer
                .or_else(|| self.mm.mmap_lock.readers.first().copied()),
            LockId::VmaLock { vma } => self
                .mm
                .vma_by_id(vma)
                .and_then(|v| v.lock_readers.first().copied()),
            LockId::Ptl { table_pfn } => self.pt.tables.get(&table_pfn).and_then(|t| t.ptl),
            LockId::PmdLock { region } => self.pt.pmd_locks.get(&region).copied(),
            LockId::Folio { pfn } => self.folios.get(&pfn).and_then(|f| f.locked),
        }
    }

    fn lock_event(&mut self, e: LockEvent) {
        if self.log.on {
            self.log.locks.push(e);
        }
    }

    /// Take a spinlock or folio lock that the scheduler saw free (`wants` made the thread
    /// wait otherwise).
    pub fn lock(&mut self, tid: Tid, lock: LockId) {
        let prev = self.holder(lock);
        debug_assert!(prev.is_none(), "{lock:?} taken while held by {prev:?}");
        match lock {
            LockId::Ptl { table_pfn } => {
                self.pt.tables.get_or_default(table_pfn).ptl = Some(tid);
            }
            LockId::PmdLock { region } => {
                self.pt.pmd_locks.insert(region, tid);
            }
            LockId::Folio { pfn } => {
                if let Some(f) = self.folios.get_mut(&pfn) {
                    f.locked = Some(tid);
                }
            }
            LockId::MmapLock | LockId::VmaLock { .. } => {
                unreachable!("rwsems are taken with mmap_lock()/vma_start_read()")
            }
        }
        self.threads[tid].held.push(lock);
        self.lock_event(LockEvent::Acquired {
            thread: tid,
            lock,
            mode: None,
        });
    }

    /// `folio_trylock`: take the folio lock if free.
    pub fn folio_trylock(&mut self, tid: Tid, pfn: u64) -> bool {
        if self.holder(LockId::Folio { pfn }).is_some() {
            self.lock_event(LockEvent::TryFailed {
                thread: tid,
                lock: LockId::Folio { pfn },
            });
            return false;
        }
        self.lock(tid, LockId::Folio { pfn });
        true
    }

    /// Release a spinlock or folio lock; `folio_unlock` also wakes the folio's waiters.
    pub fn unlock(&mut self, tid: Tid, lock: LockId) {
        match lock {
            LockId::Ptl { table_pfn } => {
                if let Some(t) = self.pt.tables.get_mut(&table_pfn) {
                    t.ptl = None;
                }
            }
            LockId::PmdLock { region } => {
                self.pt.pmd_locks.remove(&region);
            }
            LockId::Folio { pfn } => {
                let waiters = match self.folios.get_mut(&pfn) {
                    Some(f) => {
                        f.locked = None;
                        std::mem::take(&mut f.waiters).0
                    }
                    None => Vec::new(),
                };
                for w in waiters {
                    self.threads[w].waiting = None;
                    self.lock_event(LockEvent::Woken { thread: w, lock });
                }
            }
            LockId::MmapLock | LockId::VmaLock { .. } => {
                unreachable!("rwsems are released with mmap_unlock()/vma_end_read()")
            }
        }
        self.release_held(tid, lock);
    }

    fn release_held(&mut self, tid: Tid, lock: LockId) {
        let held = &mut self.threads[tid].held;
        if let Some(i) = held.iter().rposition(|l| *l == lock) {
            held.remove(i);
        }
        self.lock_event(LockEvent::Released { thread: tid, lock });
    }

    /// `down_read`/`down_write` on mmap_lock: take it now, or queue and sleep. Returns
    /// whether it was taken now.
    pub fn mmap_lock(&mut self, tid: Tid, mode: RwMode) -> bool {
        let lock = LockId::MmapLock;
        let sem = &mut self.mm.mmap_lock;
        if sem.is_free_for(mode) {
            match mode {
                RwMode::Read => sem.readers.push(tid),
                RwMode::Write => sem.writer = Some(tid),
            }
            self.threads[tid].held.push(lock);
            self.lock_event(LockEvent::Acquired {
                thread: tid,
                lock,
                mode: Some(mode),
            });
            true
        } else {
            sem.waiters.push_back((tid, mode));
            self.threads[tid].waiting = Some(Wait::Rwsem { lock, mode });
            self.lock_event(LockEvent::Waiting {
                thread: tid,
                lock,
                mode: Some(mode),
            });
            false
        }
    }

    /// `up_read`/`up_write` on mmap_lock, handing it to waiters (`rwsem_mark_wake`).
    pub fn mmap_unlock(&mut self, tid: Tid) {
        let sem = &mut self.mm.mmap_lock;
        if sem.writer == Some(tid) {
            sem.writer = None;
        } else if let Some(i) = sem.readers.iter().position(|&r| r == tid) {
            sem.readers.remove(i);
        }
        self.release_held(tid, LockId::MmapLock);
        let woken = self.mm.mmap_lock.wake();
        for (w, mode) in woken {
            self.threads[w].waiting = None;
            self.threads[w].held.push(LockId::MmapLock);
            self.lock_event(LockEvent::Woken {
                thread: w,
                lock: LockId::MmapLock,
            });
            self.lock_event(LockEvent::Acquired {
                thread: w,
                lock: LockId::MmapLock,
                mode: Some(mode),
            });
        }
    }

    /// v6.4 `vma_start_read`: a trylock that fails while the VMA is write-locked by an
    /// mmap_lock writer (or a writer waits for it).
    pub fn vma_start_read(&mut self, tid: Tid, vma: u32) -> bool {
        let lock = LockId::VmaLock { vma };
        let ok = match self.mm.vma_by_id_mut(vma) {
            Some(v) if !v.write_locked && v.lock_writer_waiting.is_none() => {
                v.lock_readers.push(tid);
                true
            }
            _ => false,
        };
        if ok {
            self.threads[tid].held.push(lock);
            self.lock_event(LockEvent::Acquired {
                thread: tid,
                lock,
                mode: Some(RwMode::Read),
            });
        } else {
            self.lock_event(LockEvent::TryFailed { thread: tid, lock });
        }
        ok
    }

    /// v6.4 `vma_end_read`; wakes a `vma_start_write` waiting for the last reader.
    pub fn vma_end_read(&mut self, tid: Tid, vma: u32) {
        let mut wake = None;
        if let Some(v) = self.mm.vma_by_id_mut(vma) {
            if let Some(i) = v.lock_readers.iter().position(|&r| r == tid) {
                v.lock_readers.remove(i);
            }
            if v.lock_readers.is_empty() {
                if let Some(w) = v.lock_writer_waiting.take() {
                    v.write_locked = true;
                    wake = Some(w);
                }
            }
        }
        self.release_held(tid, LockId::VmaLock { vma });
        if let Some(w) = wake {
            self.threads[w].waiting = None;
            self.lock_event(LockEvent::Woken {
                thread: w,
                lock: LockId::VmaLock { vma },
            });
        }
    }

    /// v6.4 `vma_start_write` (caller holds mmap_lock for write): mark the VMA write-locked
    /// once no fault holds its lock, else wait. Returns whether it is write-locked now.
    pub fn vma_start_write(&mut self, tid: Tid, vma: u32) -> bool {
        let lock = LockId::VmaLock { vma };
        let Some(v) = self.mm.vma_by_id_mut(vma) else {
            return true;
        };
        if v.write_locked {
            return true;
        }
        if v.lock_readers.is_empty() {
            v.write_locked = true;
            self.lock_event(LockEvent::Acquired {
                thread: tid,
                lock,
                mode: Some(RwMode::Write),
            });
            true
        } else {
            v.lock_writer_waiting = Some(tid);
            self.threads[tid].waiting = Some(Wait::VmaWrite { vma });
            self.lock_event(LockEvent::Waiting {
                thread: tid,
                lock,
                mode: Some(RwMode::Write),
            });
            false
        }
    }

    /// v6.4 `vma_end_write_all` (from `mmap_write_unlock`): bumping `mm_lock_seq` releases
    /// every VMA write lock at once.
    pub fn vma_end_write_all(&mut self) {
        for v in &mut self.mm.vmas {
            v.write_locked = false;
        }
    }

    /// Sleep on folio `pfn` until it is unlocked (`migration_entry_wait_on_locked`).
    pub fn folio_wait(&mut self, tid: Tid, pfn: u64) {
        if let Some(f) = self.folios.get_mut(&pfn) {
            f.waiters.push(tid);
        }
        self.threads[tid].waiting = Some(Wait::FolioUnlock { pfn });
        self.lock_event(LockEvent::Waiting {
            thread: tid,
            lock: LockId::Folio { pfn },
            mode: None,
        });
    }

    // ------------------------------------------------------------------ page tables

    pub fn pmd(&self, addr: u64) -> u64 {
        self.pt.pmd(addr)
    }

    /// `set_pmd_at` / `pmd_populate` / `pmdp_*`: write a PMD entry.
    pub fn set_pmd(&mut self, addr: u64, new: u64) {
        let idx = pmd_index(addr);
        let old = self.pt.pmds.get(&idx).copied().unwrap_or(0);
        if new == 0 {
            self.pt.pmds.remove(&idx);
        } else {
            self.pt.pmds.insert(idx, new);
        }
        if self.log.on && old != new {
            self.log.changes.push(Change::Pmd {
                addr: idx << pte::PMD_SHIFT,
                old,
                new,
            });
        }
    }

    pub fn pte(&self, table_pfn: u64, idx: u16) -> u64 {
        self.pt.pte(table_pfn, idx)
    }

    /// `set_pte_at` / `ptep_get_and_clear` / ...: write a PTE.
    pub fn set_pte(&mut self, table_pfn: u64, idx: u16, addr: u64, new: u64) {
        self.touched_ptes.push(addr);
        let t = self.pt.tables.get_or_default(table_pfn);
        let old = t.get(idx);
        if new == 0 {
            t.entries_mut().remove(&idx);
        } else {
            t.entries_mut().insert(idx, new);
        }
        if self.log.on && old != new {
            self.log.changes.push(Change::Pte {
                table_pfn,
                index: idx,
                addr,
                old,
                new,
            });
        }
    }

    pub fn pmd_lock_of(addr: u64) -> LockId {
        LockId::PmdLock {
            region: pmd_lock_index(addr),
        }
    }

    // ------------------------------------------------------------------ VMAs

    pub fn set_vm_flags(&mut self, vma: u32, new: u64) {
        if let Some(v) = self.mm.vma_by_id_mut(vma) {
            let old = v.vm_flags;
            v.vm_flags = new;
            if self.log.on && old != new {
                self.log.changes.push(Change::VmFlags { vma, old, new });
            }
        }
    }

    pub fn set_vm_page_prot(&mut self, vma: u32, new: u64) {
        if let Some(v) = self.mm.vma_by_id_mut(vma) {
            let old = v.vm_page_prot;
            v.vm_page_prot = new;
            if self.log.on && old != new {
                self.log.changes.push(Change::VmPageProt { vma, old, new });
            }
        }
    }

    pub fn counter(&mut self, name: &'static str, old: i64, new: i64) {
        if self.log.on && old != new {
            self.log.changes.push(Change::Counter { name, old, new });
        }
    }

    // ------------------------------------------------------------------ TLBs

    /// Cache a translation on `cpu` (the hardware walker's fill), replacing any overlap.
    pub fn tlb_fill(&mut self, cpu: usize, e: TlbEntry) {
        let old = self.cpus[cpu].lookup(e.vaddr).copied();
        let tlb = &mut self.cpus[cpu].tlb;
        tlb.retain(|x| !(x.covers(e.vaddr) || e.covers(x.vaddr)));
        let pos = tlb.partition_point(|x| x.vaddr < e.vaddr);
        tlb.insert(pos, e);
        if self.log.on && old != Some(e) {
            self.log.changes.push(Change::Tlb {
                cpu,
                vaddr: e.vaddr,
                old,
                new: Some(e),
            });
        }
    }

    /// Drop one CPU's translations overlapping [start, end) (a local flush, or the
    /// invalidation a #PF does on the faulting CPU).
    pub fn tlb_drop(&mut self, cpu: usize, start: u64, end: u64) {
        let mut dropped = Vec::new();
        self.cpus[cpu].tlb.retain(|x| {
            let keep = x.vaddr + x.size() <= start || x.vaddr >= end;
            if !keep {
                dropped.push(*x);
            }
            keep
        });
        if self.log.on {
            for x in dropped {
                self.log.changes.push(Change::Tlb {
                    cpu,
                    vaddr: x.vaddr,
                    old: Some(x),
                    new: None,
                });
            }
        }
    }

    /// `flush_tlb_range`/`flush_tlb_mm_range`: every CPU running this mm drops the range
    /// (the IPIs have all been answered when this returns), and the flushing thread's
    /// deferred-flush obligations for the range are met.
    pub fn flush_tlb_range(&mut self, tid: Tid, start: u64, end: u64) {
        for cpu in 0..self.cpus.len() {
            self.tlb_drop(cpu, start, end);
        }
        self.flush_owed
            .retain(|&(o, s, e)| !(o == tid && start <= s && e <= end));
    }

    /// Flush every CPU's whole TLB for this mm (`try_to_unmap_flush`, batched pending).
    pub fn flush_tlb_all(&mut self, tid: Tid) {
        self.flush_tlb_range(tid, 0, u64::MAX);
        self.flush_owed.retain(|&(o, _, _)| o != tid);
    }

    /// Note that `tid` changed [start, end) and owes a TLB flush for it.
    pub fn owe_flush(&mut self, tid: Tid, start: u64, end: u64) {
        if !self.flush_owed.covers(tid, start, end) {
            self.flush_owed.push((tid, start, end));
        }
    }

    // ------------------------------------------------------------------ folios

    /// The folio containing `pfn` (by head).
    pub fn folio_of(&self, pfn: u64) -> Option<&Folio> {
        self.folios
            .range(..=pfn)
            .next_back()
            .map(|(_, f)| f)
            .filter(|f| f.contains(pfn))
    }

    pub fn folio_head(&self, pfn: u64) -> Option<u64> {
        self.folio_of(pfn).map(|f| f.pfn)
    }

    pub fn folio_mut(&mut self, pfn: u64) -> Option<&mut Folio> {
        let head = self.folio_head(pfn)?;
        self.folios.get_mut(&head)
    }

    /// Log a folio field change.
    pub fn folio_change(&mut self, pfn: u64, field: &'static str, old: String, new: String) {
        if self.log.on && old != new {
            self.log.changes.push(Change::Folio {
                pfn,
                field,
                old,
                new,
            });
        }
    }

    /// Set PageAnonExclusive of page `pfn`.
    pub fn set_anon_exclusive(&mut self, pfn: u64, on: bool) {
        let Some(f) = self.folio_mut(pfn) else { return };
        let i = (pfn - f.pfn) as usize;
        let old = f.anon_exclusive[i];
        f.anon_exclusive[i] = on;
        self.folio_change(pfn, "PageAnonExclusive", old.to_string(), on.to_string());
    }

    pub fn anon_exclusive(&self, pfn: u64) -> bool {
        self.folio_of(pfn)
            .is_some_and(|f| f.anon_exclusive[(pfn - f.pfn) as usize])
    }

    /// Adjust the refcount of the folio containing `pfn`.
    pub fn folio_ref(&mut self, pfn: u64, delta: i32) {
        let Some(f) = self.folio_mut(pfn) else { return };
        let head = f.pfn;
        let old = f.refcount;
        f.refcount += delta;
        let new = f.refcount;
        self.folio_change(head, "refcount", old.to_string(), new.to_string());
    }

    /// Adjust the PTE mapcount of page `pfn`.
    pub fn page_mapcount(&mut self, pfn: u64, delta: i32) {
        let Some(f) = self.folio_mut(pfn) else { return };
        let i = (pfn - f.pfn) as usize;
        let old = f.mapcount[i];
        f.mapcount[i] += delta;
        let new = f.mapcount[i];
        self.folio_change(pfn, "mapcount", old.to_string(), new.to_string());
    }

    /// Adjust the entire (PMD) mapcount of the THP with head `pfn`.
    pub fn entire_mapcount(&mut self, pfn: u64, delta: i32) {
        let Some(f) = self.folio_mut(pfn) else { return };
        let head = f.pfn;
        let old = f.entire_mapcount;
        f.entire_mapcount += delta;
        let new = f.entire_mapcount;
        self.folio_change(head, "entire_mapcount", old.to_string(), new.to_string());
    }

    /// Write the data word of page `pfn`.
    pub fn write_data(&mut self, pfn: u64, value: u64) {
        let Some(f) = self.folio_mut(pfn) else { return };
        let i = (pfn - f.pfn) as usize;
        let old = f.data[i];
        f.data[i] = value;
        if self.log.on && old != value {
            self.log.changes.push(Change::Data {
                pfn,
                old,
                new: value,
            });
        }
    }

    pub fn read_data(&self, pfn: u64) -> u64 {
        self.folio_of(pfn)
            .map_or(0, |f| f.data[(pfn - f.pfn) as usize])
    }

    /// The page allocator: the next frame of the scenario's `alloc_pfns`, as an order-0
    /// anonymous folio with one reference.
    pub fn alloc_page(&mut self) -> Option<u64> {
        let pfn = *self.alloc_pfns.get(self.alloc_next)?;
        self.alloc_next += 1;
        let mut f = Folio::new(pfn, 0, false);
        f.refcount = 1;
        self.folios.insert(pfn, f);
        self.folio_change(pfn, "allocated", "false".into(), "true".into());
        Some(pfn)
    }

    /// The `vm_page_prot` and `vm_flags` of the VMA containing `addr` right now
    /// (what a `READ_ONCE(vma->vm_page_prot)` without mmap_lock sees).
    pub fn vma_prot_at(&self, addr: u64) -> Option<(u64, u64)> {
        self.mm.find_vma(addr).map(|v| (v.vm_page_prot, v.vm_flags))
    }

    /// The shared zero page's pfn (a reserved frame in the model).
    pub fn zero_pfn(&self) -> u64 {
        ZERO_PFN
    }

    /// CPU of thread `tid`.
    pub fn cpu_of(&self, tid: Tid) -> usize {
        self.spec.threads[tid].cpu
    }
}
