//! The locks worth showing in a state, with who holds each and who waits for it, and their
//! words: one list for the stepper's Locks panel (`frontend/src/panels.rs`) and the exported
//! pictures (`render/src/draw.rs`), which only lay it out differently.
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
    /// A folio lock of a THP.
    pub thp: bool,
    pub holder: Holder,
    pub waiters: Vec<Waiter>,
}

impl LockRow {
    /// The lock's name: `mmap_lock`, `vma_lock #1`, `PMD lock 0x7fc0000000`, `PT lock
    /// 0x1001 (deposited)`, `folio 0x40000 (THP)`. `compact` abbreviates the notes in
    /// parentheses, for a picture's narrow column.
    pub fn label(&self, compact: bool) -> String {
        let note = |long: &str, short: &str| if compact { short } else { long }.to_string();
        match self.lock {
            LockId::MmapLock => "mmap_lock".to_string(),
            LockId::VmaLock { vma } => format!("vma_lock #{vma}"),
            LockId::PmdLock { region } => format!("PMD lock {:#x}", region << 30),
            LockId::Ptl { table_pfn } => format!(
                "PT lock {table_pfn:#x}{}",
                if self.deposited {
                    note(" (deposited)", " (dep.)")
                } else {
                    String::new()
                }
            ),
            LockId::Folio { pfn } => format!(
                "folio {pfn:#x}{}",
                if self.thp {
                    note(" (THP)", " THP")
                } else {
                    String::new()
                }
            ),
        }
    }

    /// Who holds it, in words, with `name` naming a thread; `None` when it is free.
    pub fn holder_words(&self, name: impl Fn(Tid) -> String) -> Option<String> {
        Some(match &self.holder {
            Holder::Free => return None,
            Holder::Thread(t) if self.lock == LockId::MmapLock => format!("{} (write)", name(*t)),
            Holder::Thread(t) => name(*t),
            Holder::Readers(ts) => format!(
                "{} (read)",
                ts.iter().map(|&t| name(t)).collect::<Vec<_>>().join(", ")
            ),
            Holder::WriteLocked(by) => format!(
                "write-locked{}",
                by.map(|w| format!(" by {}", name(w))).unwrap_or_default()
            ),
        })
    }

    /// Each waiter in words, with `name` naming a thread: `T1 (read)`, `T2 (sleeping)`.
    pub fn waiter_words(&self, name: impl Fn(Tid) -> String) -> Vec<String> {
        self.waiters
            .iter()
            .map(|w| match w.how {
                How::Queued(RwMode::Read) => format!("{} (read)", name(w.thread)),
                How::Queued(RwMode::Write) => format!("{} (write)", name(w.thread)),
                How::VmaStartWrite => format!("{} (vma_start_write)", name(w.thread)),
                How::Sleeping => format!("{} (sleeping)", name(w.thread)),
                How::Spinning => name(w.thread),
            })
            .collect()
    }
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
        thp: false,
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
                thp: false,
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
            thp: false,
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
            thp: false,
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
            thp: f.order > 0,
            holder: f.locked.map_or(Holder::Free, Holder::Thread),
            waiters,
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(lock: LockId, holder: Holder, waiters: Vec<Waiter>) -> LockRow {
        LockRow {
            lock,
            deposited: true,
            thp: true,
            holder,
            waiters,
        }
    }

    /// One wording for the stepper and the pictures; the pictures abbreviate only the notes
    /// in a lock's name.
    #[test]
    fn locks_are_worded_once() {
        let name = |t: Tid| format!("T{t}");
        let ptl = row(
            LockId::Ptl { table_pfn: 0x1001 },
            Holder::Thread(1),
            vec![Waiter {
                thread: 2,
                how: How::Sleeping,
            }],
        );
        assert_eq!(ptl.label(false), "PT lock 0x1001 (deposited)");
        assert_eq!(ptl.label(true), "PT lock 0x1001 (dep.)");
        assert_eq!(ptl.holder_words(name).as_deref(), Some("T1"));
        assert_eq!(ptl.waiter_words(name), ["T2 (sleeping)"]);
        let folio = row(LockId::Folio { pfn: 0x40000 }, Holder::Free, Vec::new());
        assert_eq!(folio.label(false), "folio 0x40000 (THP)");
        assert_eq!(folio.label(true), "folio 0x40000 THP");
        assert_eq!(folio.holder_words(name), None);
        let mm = row(
            LockId::MmapLock,
            Holder::Thread(0),
            vec![
                Waiter {
                    thread: 1,
                    how: How::Queued(RwMode::Read),
                },
                Waiter {
                    thread: 2,
                    how: How::Spinning,
                },
            ],
        );
        assert_eq!(mm.label(false), "mmap_lock");
        assert_eq!(mm.holder_words(name).as_deref(), Some("T0 (write)"));
        assert_eq!(mm.waiter_words(name), ["T1 (read)", "T2"]);
        let vma = row(
            LockId::VmaLock { vma: 3 },
            Holder::WriteLocked(Some(0)),
            Vec::new(),
        );
        assert_eq!(vma.label(true), "vma_lock #3");
        assert_eq!(
            vma.holder_words(name).as_deref(),
            Some("write-locked by T0")
        );
    }
}
