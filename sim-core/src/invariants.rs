//! The invariants checked after every step (DESIGN.md's seven, as nine named checks).

use serde::Serialize;

use crate::flags::{vma_is_accessible, VM_WRITE};
use crate::machine::{Machine, Status};
use crate::pte::{self, EntryKind, Level, MigrationKind, PAGE_SIZE, PMD_SIZE};
use crate::record::Event;
use crate::state::{page_of, Tid};

/// An invariant's identity and its explanation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Invariant {
    pub id: &'static str,
    pub title: &'static str,
    pub explanation: &'static str,
}

pub const WRITABLE_PTE_IN_READONLY_VMA: &str = "writable-pte-in-readonly-vma";
pub const WRITE_AFTER_MPROTECT: &str = "write-after-mprotect-returned";
pub const WRITABLE_NOT_EXCLUSIVE: &str = "writable-anon-not-exclusive";
pub const LOST_WRITE: &str = "lost-write";
pub const FREED_PAGE_MAPPED: &str = "freed-page-mapped";
pub const MIGRATION_ENTRY_UNLOCKED: &str = "migration-entry-without-folio-lock";
pub const STALE_TLB: &str = "stale-tlb-after-flush";
pub const DEADLOCK: &str = "deadlock";
pub const LOCK_HELD_AT_EXIT: &str = "lock-held-at-exit";

pub const ALL: &[Invariant] = &[
    Invariant {
        id: WRITABLE_PTE_IN_READONLY_VMA,
        title: "No entry more permissive than its VMA",
        explanation: "A PTE or PMD with RW set, or a writable migration entry, in a VMA without VM_WRITE — or any accessible entry in a PROT_NONE VMA — lets user space do what the VMA forbids. Inside an mprotect that has not returned, such an entry is allowed: the walk has not reached it yet and will fix it before the TLB flush, and no user code can tell the difference (the argument of commit 717f95b494ac). Once no protection change covering it is in flight, it is a bug.",
    },
    Invariant {
        id: WRITE_AFTER_MPROTECT,
        title: "No store succeeds after mprotect removed write",
        explanation: "When mprotect(PROT_READ) has returned, no user store to that range may complete: through a stale TLB entry, a writable PTE or anything else.",
    },
    Invariant {
        id: WRITABLE_NOT_EXCLUSIVE,
        title: "A writable anonymous PTE maps an exclusive page",
        explanation: "Since v5.19 a writable anonymous PTE/PMD must map a page with PageAnonExclusive set (try_to_migrate_one BUGs on it); otherwise a write could reach a page that another process or a GUP pin still shares.",
    },
    Invariant {
        id: LOST_WRITE,
        title: "No lost write",
        explanation: "Every completed store must be visible in the page finally mapped at its address. A store that lands in the old page after migration copied it is lost.",
    },
    Invariant {
        id: FREED_PAGE_MAPPED,
        title: "No present entry maps a freed page",
        explanation: "A present PTE/PMD must not point at a page that was freed (use after free).",
    },
    Invariant {
        id: MIGRATION_ENTRY_UNLOCKED,
        title: "Migration entries exist only while their folio is locked",
        explanation: "A migration entry refers to a folio that its migrator holds locked; faults sleep on that lock. An entry whose folio is unlocked would never be resolved, and pfn_swap_entry_to_page asserts the lock.",
    },
    Invariant {
        id: STALE_TLB,
        title: "No stale TLB entry after the flush",
        explanation: "Once the thread that changed an entry has flushed (or returned), no CPU may keep a translation that allows more than the entry: a different page, a write the PTE forbids, or any access to a non-present entry.",
    },
    Invariant {
        id: DEADLOCK,
        title: "No deadlock",
        explanation: "Some thread has not finished, but none can run.",
    },
    Invariant {
        id: LOCK_HELD_AT_EXIT,
        title: "No thread ends holding a lock",
        explanation: "A thread that finished (or was killed) still holds a lock.",
    },
];

pub fn by_id(id: &str) -> Option<&'static Invariant> {
    ALL.iter().find(|i| i.id == id)
}

/// A violation found after a step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub id: &'static str,
    /// What exactly is wrong, with addresses and values.
    pub detail: String,
}

/// An entry that is more permissive than its VMA but tolerated because a protection change
/// covering it is in flight.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tolerated {
    pub id: &'static str,
    pub detail: String,
    /// The thread whose mprotect covers it.
    pub by: Tid,
}

/// Every leaf entry of the page tables: (address, raw, level).
pub fn leaves(m: &Machine) -> Vec<(u64, u64, Level)> {
    let mut out = Vec::new();
    for (&idx, &pmd) in &m.pt.pmds {
        let base = idx << pte::PMD_SHIFT;
        if pte::pmd_is_table(pmd) {
            if let Some(t) = m.pt.tables.get(&pte::pmd_table_pfn(pmd)) {
                for (&i, &v) in &t.entries {
                    out.push((base + ((i as u64) << pte::PAGE_SHIFT), v, Level::Pte));
                }
            }
        } else {
            out.push((base, pmd, Level::Pmd));
        }
    }
    out
}

/// The state invariants, with tolerated (in-flight) entries reported separately.
pub fn check_state(m: &Machine) -> (Vec<Violation>, Vec<Tolerated>) {
    let mut bad = Vec::new();
    let mut ok = Vec::new();
    let inflight = m.protection_changes_in_flight();
    for (addr, v, level) in leaves(m) {
        let kind = pte::classify(v, level);
        let size = if level == Level::Pmd {
            PMD_SIZE
        } else {
            PAGE_SIZE
        };
        // 1. More permissive than the VMA.
        let Some(vma) = m.mm.find_vma(addr) else {
            continue;
        };
        let flags = vma.vm_flags;
        let writable = match kind {
            EntryKind::Present | EntryKind::ProtNone | EntryKind::InvalidatedHuge => {
                v & pte::RW != 0
            }
            EntryKind::Migration(e) => e.kind == MigrationKind::Write,
            _ => false,
        };
        let accessible = v & pte::PRESENT != 0;
        let problem = if writable && flags & VM_WRITE == 0 {
            Some(format!(
                "{} at {addr:#x} is writable ({}) but the VMA's vm_flags {:#x} lack VM_WRITE",
                if level == Level::Pmd { "PMD" } else { "PTE" },
                pte::hex(v),
                flags
            ))
        } else if accessible && !vma_is_accessible(flags) {
            Some(format!(
                "{} at {addr:#x} is accessible ({}) but the VMA is PROT_NONE",
                if level == Level::Pmd { "PMD" } else { "PTE" },
                pte::hex(v)
            ))
        } else {
            None
        };
        if let Some(detail) = problem {
            match inflight
                .iter()
                .find(|&&(_, s, e)| s < addr + size && addr < e)
            {
                Some(&(by, _, _)) => ok.push(Tolerated {
                    id: WRITABLE_PTE_IN_READONLY_VMA,
                    detail,
                    by,
                }),
                None => bad.push(Violation {
                    id: WRITABLE_PTE_IN_READONLY_VMA,
                    detail,
                }),
            }
        }
        // 3. Writable anonymous ⇒ exclusive.
        if matches!(kind, EntryKind::Present) && v & pte::RW != 0 {
            let pfn = if level == Level::Pmd {
                pte::pmd_pfn(v)
            } else {
                pte::pte_pfn(v)
            };
            if m.folio_of(pfn).is_some() && !m.anon_exclusive(pfn) {
                bad.push(Violation {
                    id: WRITABLE_NOT_EXCLUSIVE,
                    detail: format!("writable entry at {addr:#x} maps pfn {pfn:#x}, which is not PageAnonExclusive"),
                });
            }
        }
        // 5a. Present entry → live page.
        if matches!(
            kind,
            EntryKind::Present | EntryKind::ProtNone | EntryKind::InvalidatedHuge
        ) {
            let pfn = if level == Level::Pmd {
                pte::pmd_pfn(v)
            } else {
                pte::pte_pfn(v)
            };
            if m.folio_of(pfn).is_some_and(|f| f.freed) {
                bad.push(Violation {
                    id: FREED_PAGE_MAPPED,
                    detail: format!("entry at {addr:#x} maps pfn {pfn:#x}, which was freed"),
                });
            }
        }
        // 5b. Migration entry → locked folio. Exception: a PMD migration entry that a split
        // is rewriting under the PMD lock. v6.3/v6.4's __split_huge_pmd_locked runs
        // pmdp_invalidate on it first, and x86 pmd_mkinvalid re-encodes a swap PMD with
        // offset bits 12–20 lost, so for a moment the PMD holds a garbage "migration entry"
        // (only lockless walkers can see it; v6.10's 3a5a8d343e1c stopped invalidating
        // non-present PMDs). The real entry is the one the split read before.
        let rewritten_under_lock = level == Level::Pmd
            && m.pt
                .pmd_locks
                .contains_key(&crate::state::pmd_lock_index(addr));
        if let EntryKind::Migration(e) = kind {
            if !rewritten_under_lock && m.folio_of(e.pfn).is_none_or(|f| f.locked.is_none()) {
                bad.push(Violation {
                    id: MIGRATION_ENTRY_UNLOCKED,
                    detail: format!(
                        "migration entry at {addr:#x} for pfn {:#x}, whose folio is not locked",
                        e.pfn
                    ),
                });
            }
        }
    }
    // 6. Stale TLB entries not covered by a pending flush.
    for (cpu, c) in m.cpus.iter().enumerate() {
        for t in &c.tlb {
            let mut a = t.vaddr;
            while a < t.vaddr + t.size() {
                if let Some(why) = tlb_more_permissive(m, t, a) {
                    let owed = m.flush_owed.iter().any(|&(_, s, e)| s <= a && a < e);
                    if !owed {
                        bad.push(Violation {
                            id: STALE_TLB,
                            detail: format!(
                                "CPU {cpu} still translates {a:#x} → pfn {:#x}{}, but {why}",
                                t.pfn_for(a),
                                if t.writable { " writable" } else { "" }
                            ),
                        });
                        break;
                    }
                }
                a += PAGE_SIZE;
            }
        }
    }
    (bad, ok)
}

/// Why TLB entry `t` allows more at `a` than the page tables do now, if it does.
fn tlb_more_permissive(m: &Machine, t: &crate::state::TlbEntry, a: u64) -> Option<String> {
    let pmd = m.pmd(a);
    let leaf = if pte::pmd_is_table(pmd) {
        m.pt.table_of(a)
            .map(|tb| (m.pte(tb, crate::state::pte_index(a)), false))
    } else {
        Some((pmd, true))
    }?;
    let (v, huge) = leaf;
    if v & pte::PRESENT == 0 {
        return Some(format!("the entry is not present ({})", pte::hex(v)));
    }
    let pfn = if huge {
        pte::pmd_pfn(v) + ((a - crate::state::pmd_base(a)) >> pte::PAGE_SHIFT)
    } else {
        pte::pte_pfn(v)
    };
    if pfn != t.pfn_for(a) {
        return Some(format!("the entry now maps pfn {pfn:#x}"));
    }
    if t.writable && v & pte::RW == 0 {
        return Some(format!("the entry is read-only ({})", pte::hex(v)));
    }
    None
}

/// Everything checked after a step: state invariants, event invariants (this step's
/// completed stores), and the end-of-run checks (deadlock, locks held, lost writes).
pub fn check_after_step(m: &Machine, tid: Tid) -> Vec<Violation> {
    let (mut bad, _) = check_state(m);
    // 2. A store completed in a VMA without VM_WRITE outside any in-flight mprotect.
    for e in &m.log.events {
        if let Event::WriteCompleted { addr, .. } = e {
            let flags = m.mm.find_vma(*addr).map_or(0, |v| v.vm_flags);
            let inflight = m
                .protection_changes_in_flight()
                .iter()
                .any(|&(_, s, e)| s <= *addr && *addr < e);
            if flags & VM_WRITE == 0 && !inflight {
                bad.push(Violation {
                    id: WRITE_AFTER_MPROTECT,
                    detail: format!("a store to {addr:#x} completed although its VMA lacks VM_WRITE and no mprotect is in flight"),
                });
            }
        }
    }
    let _ = tid;
    bad.extend(check_end(m));
    bad
}

/// End-of-run checks: deadlock, locks held by finished threads, lost writes.
pub fn check_end(m: &Machine) -> Vec<Violation> {
    let mut bad = Vec::new();
    for (t, th) in m.threads.iter().enumerate() {
        if matches!(m.status(t), Status::Done | Status::Killed { .. }) && !th.held.is_empty() {
            bad.push(Violation {
                id: LOCK_HELD_AT_EXIT,
                detail: format!(
                    "{} finished holding {}",
                    m.thread_name(t),
                    th.held
                        .iter()
                        .map(|l| l.name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
    }
    if m.runnable().is_empty() {
        if !m.all_finished() {
            let stuck: Vec<String> = (0..m.threads.len())
                .filter_map(|t| match m.status(t) {
                    Status::Blocked { reason, .. } => {
                        Some(format!("{}: {reason}", m.thread_name(t)))
                    }
                    _ => None,
                })
                .collect();
            bad.push(Violation {
                id: DEADLOCK,
                detail: format!("no thread can run: {}", stuck.join("; ")),
            });
        } else {
            for (&page, &value) in &m.last_write {
                if let Some(pfn) = mapped_pfn(m, page) {
                    let have = m.read_data(pfn);
                    if have != value {
                        bad.push(Violation {
                            id: LOST_WRITE,
                            detail: format!("the last store to {page:#x} wrote {value:#x}, but the page mapped there now (pfn {pfn:#x}) holds {have:#x}"),
                        });
                    }
                }
            }
        }
    }
    bad
}

/// The pfn mapped at `addr` now (present or PROT_NONE entry).
pub fn mapped_pfn(m: &Machine, addr: u64) -> Option<u64> {
    let addr = page_of(addr);
    let pmd = m.pmd(addr);
    if pte::pmd_is_table(pmd) {
        let v = m.pte(pte::pmd_table_pfn(pmd), crate::state::pte_index(addr));
        if pte::pte_present(v) {
            return Some(pte::pte_pfn(v));
        }
        return pte::MigrationEntry::decode(v).map(|e| e.pfn);
    }
    if pte::pmd_present(pmd) && pmd & pte::PSE != 0 {
        return Some(
            pte::pmd_pfn(pmd) + ((addr - crate::state::pmd_base(addr)) >> pte::PAGE_SHIFT),
        );
    }
    None
}
