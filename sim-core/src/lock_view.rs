//! The locks worth showing in a state, with who holds each and who waits for it: one list for
//! the stepper's Locks panel (`frontend/src/panels.rs`) and the exported pictures
//! (`render/src/draw.rs`), which only differ in how they word it.
//!
//! The order is fixed: `mmap_lock`; on v6.4 each VMA's per-VMA lock; the PMD lock of every
//! 1 GiB region with PMD entries (or a held one); the PT lock of every PTE table that is
//! mapped, deposited or held; the lock of every folio that is not the zero page (a freed one
//! only while held).

use crate::machine::Machine;
use crate::pte;
use crate::state::{LockId, RwMode, Tid};

/// One lock and its state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockRow {
    pub lock: LockId,
    /// A PT lock of a table no PMD maps (deposited under a huge PMD, or held while being
    /// taken off).
    pub deposited: bool,
    pub holder: Holder,
    pub waiters: Vec<Waiter>,
}

/// Who holds a lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    Free,
    /// A spinlock or folio lock, or an rwsem held for write.
    Thread(Tid),
    /// An rwsem (or per-VMA lock) held for read by these threads.
    Readers(Vec<Tid>),
    /// v6.4: the VMA is write-locked until `mmap_write_unlock` (by the mmap_lock writer).
    WriteLocked(Option<Tid>),
}

/// A thread waiting for a lock, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiter {
    pub thread: Tid,
    pub how: How,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    /// Queued on an rwsem, for read or write.
    Queued(RwMode),
    /// `vma_start_write` waiting for the VMA's readers to drain.
    VmaStartWrite,
    /// Asleep until the folio is unlocked (`migration_entry_wait_on_locked`).
    Sleeping,
    /// Spinning (or about to sleep) on a lock another thread holds.
    Spinning,
}

/// The locks of `m`, in the order of the module docs.
pub fn rows(m: &Machine) -> Vec<LockRow> {
    let blocked: Vec<Option<LockId>> = (0..m.threads.len()).map(|t| m.blocked_on(t)).collect();
    // Threads blocked on `l` that `waiters` does not list yet, as spinners.
    let add_spinners = |l: LockId, waiters: &mut Vec<Waiter>| {
        for (t, b) in blocked.iter().enumerate() {
            if *b == Some(l) && !waiters.iter().any(|w| w.thread == t) {
                waiters.push(Waiter {
                    thread: t,
                    how: How::Spinning,
                });
            }
        }
    };
    let mut rows = Vec::new();
    let sem = &m.mm.mmap_lock;
    rows.push(LockRow {
        lock: LockId::MmapLock,
        deposited: false,
        holder: match sem.writer {
            Some(w) => Holder::Thread(w),
            None if !sem.readers.0.is_empty() => Holder::Readers(sem.readers.0.clone()),
            None => Holder::Free,
        },
        waiters: sem
            .waiters
            .iter()
            .map(|&(t, md)| Waiter {
                thread: t,
                how: How::Queued(md),
            })
            .collect(),
    });
    if m.kernel().is_v64() {
        for v in &m.mm.vmas {
            let lock = LockId::VmaLock { vma: v.id };
            let mut waiters: Vec<Waiter> = v
                .lock_writer_waiting
                .map(|t| Waiter {
                    thread: t,
                    how: How::VmaStartWrite,
                })
                .into_iter()
                .collect();
            add_spinners(lock, &mut waiters);
            rows.push(LockRow {
                lock,
                deposited: false,
                holder: if v.write_locked {
                    Holder::WriteLocked(sem.writer)
                } else if !v.lock_readers.0.is_empty() {
                    Holder::Readers(v.lock_readers.0.clone())
                } else {
                    Holder::Free
                },
                waiters,
            });
        }
    }
    let mut regions: Vec<u64> =
        m.pt.pmds
            .keys()
            .map(|&i| (i << pte::PMD_SHIFT) >> 30)
            .chain(m.pt.pmd_locks.keys().copied())
            .collect();
    regions.sort_unstable();
    regions.dedup();
    for region in regions {
        let lock = LockId::PmdLock { region };
        let mut waiters = Vec::new();
        add_spinners(lock, &mut waiters);
        rows.push(LockRow {
            lock,
            deposited: false,
            holder: m
                .pt
                .pmd_locks
                .get(&region)
                .map_or(Holder::Free, |&h| Holder::Thread(h)),
            waiters,
        });
    }
    for (&pfn, t) in &m.pt.tables {
        let mapped =
            m.pt.pmds
                .values()
                .any(|&p| pte::pmd_is_table(p) && pte::pmd_table_pfn(p) == pfn);
        let deposited = !mapped && m.pt.deposited.values().any(|&d| d == pfn);
        if !mapped && !deposited && t.ptl.is_none() {
            continue;
        }
        let lock = LockId::Ptl { table_pfn: pfn };
        let mut waiters = Vec::new();
        add_spinners(lock, &mut waiters);
        rows.push(LockRow {
            lock,
            deposited: !mapped,
            holder: t.ptl.map_or(Holder::Free, Holder::Thread),
            waiters,
        });
    }
    for f in m
        .folios
        .values()
        .filter(|f| !f.zero_page && (!f.freed || f.locked.is_some()))
    {
        let lock = LockId::Folio { pfn: f.pfn };
        let mut waiters: Vec<Waiter> = f
            .waiters
            .0
            .iter()
            .map(|&t| Waiter {
                thread: t,
                how: How::Sleeping,
            })
            .collect();
        add_spinners(lock, &mut waiters);
        rows.push(LockRow {
            lock,
            deposited: false,
            holder: f.locked.map_or(Holder::Free, Holder::Thread),
            waiters,
        });
    }
    rows
}
