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
                for (&i, &v) in t.entries.iter() {
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
    let c = full(m, true, true);
    (c.all_bad(), c.all_ok())
}

/// Per-entry and per-TLB-entry results of the state invariants, kept between steps so that a
/// step which only rewrote some PTEs is rechecked at those PTEs only (the mprotect walk of a
/// 512-entry table would otherwise recheck 512 entries per step).
///
/// Two fingerprints say what is still valid. The PTE results (checks 1, 3, 5a, 5b) read,
/// besides the entry itself, the VMAs' ranges and `vm_flags`, the PMDs, what the checks
/// read of the folios, and the in-flight protection changes: their hash is `entry_fp`.
/// Results for huge PMDs also read the PMD locks; there are few, so they are rechecked
/// after every step. The TLB results (check 6) read the PMDs and PTEs, the TLBs and the owed
/// flushes: `tlb_fp` hashes all but the PTEs. A different fingerprint means that part is
/// rechecked in full; otherwise only what the written PTEs can change is rechecked. (Lock
/// and thread steps that leave both alone — most steps of other threads — cost nothing.)
/// PTE writes all go through `Machine::set_pte`, which records the address; a table filled
/// behind the log (`__split_huge_pmd` building the deposited table) becomes visible only by
/// a PMD write, which changes both fingerprints.
#[derive(Clone, Debug, Default)]
pub struct InvCache {
    entry_fp: u64,
    tlb_fp: u64,
    /// (PTE address, problem).
    bad: Vec<(u64, Violation)>,
    ok: Vec<(u64, Tolerated)>,
    /// (huge PMD address, problem).
    pmd_bad: Vec<(u64, Violation)>,
    pmd_ok: Vec<(u64, Tolerated)>,
    /// ((cpu, TLB entry vaddr), problem).
    tlb: Vec<((usize, u64), Violation)>,
    /// Whether problems carry their detail text.
    details: bool,
    /// Whether tolerated entries are listed (only [`check_state`] reports them; the cache
    /// between steps does not keep them, which keeps it small to clone).
    tolerated: bool,
}

impl InvCache {
    fn all_bad(&self) -> Vec<Violation> {
        self.pmd_bad
            .iter()
            .chain(&self.bad)
            .map(|(_, v)| v.clone())
            .chain(self.tlb.iter().map(|(_, v)| v.clone()))
            .collect()
    }
    fn all_ok(&self) -> Vec<Tolerated> {
        self.pmd_ok
            .iter()
            .chain(&self.ok)
            .map(|(_, t)| t.clone())
            .collect()
    }
}

/// What the entry checks read besides the entries (see [`InvCache`]).
fn entry_fingerprint(m: &Machine, inflight: &[(Tid, u64, u64)]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = crate::hash::StableHasher::new();
    for v in &m.mm.vmas {
        (v.start, v.end, v.vm_flags).hash(&mut h);
    }
    h.write_u64(u64::MAX);
    m.pt.pmds.hash(&mut h);
    // Only what the checks read of a folio (not its data, refcount or mapcounts).
    for f in m.folios.values() {
        (f.pfn, f.order, f.locked.map(|t| t as u64), f.freed).hash(&mut h);
        // A memoised 128-bit digest (`state::PageVec`): free unless the bits changed.
        let (a, b) = f.anon_exclusive.digest();
        h.write_u64(a);
        h.write_u64(b);
    }
    for &(t, s, e) in inflight {
        (t as u64, s, e).hash(&mut h);
    }
    h.finish()
}

/// What the TLB checks read besides the PTEs (see [`InvCache`]).
fn tlb_fingerprint(m: &Machine) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = crate::hash::StableHasher::new();
    m.pt.pmds.hash(&mut h);
    m.cpus.hash(&mut h);
    // Its running digest stands for the whole list (hashing ~512 entries was most of this).
    let (a, b) = m.flush_owed.digest();
    h.write_u64(m.flush_owed.len() as u64);
    h.write_u64(a);
    h.write_u64(b);
    h.finish()
}

fn full(m: &Machine, details: bool, tolerated: bool) -> InvCache {
    let inflight = m.protection_changes_in_flight();
    let mut c = InvCache {
        entry_fp: entry_fingerprint(m, &inflight),
        tlb_fp: tlb_fingerprint(m),
        details,
        tolerated,
        ..InvCache::default()
    };
    check_all_entries(m, &inflight, &mut c);
    check_all_tlbs(m, &mut c);
    c
}

fn check_all_entries(m: &Machine, inflight: &[(Tid, u64, u64)], c: &mut InvCache) {
    for (addr, v, level) in leaves(m) {
        check_entry(m, inflight, addr, v, level, c);
    }
}

fn check_all_tlbs(m: &Machine, c: &mut InvCache) {
    for (cpu, cc) in m.cpus.iter().enumerate() {
        for t in &cc.tlb {
            check_tlb_entry(m, cpu, t, c);
        }
    }
}

/// The state invariants, reusing `m.inv_cache` for what the last step cannot have changed.
pub(crate) fn check_state_cached(m: &mut Machine) -> Vec<Violation> {
    let details = m.log.on;
    let mut touched = std::mem::take(&mut m.touched_ptes);
    let cache = match m.inv_cache.take() {
        Some(mut c) if c.details == details => {
            touched.sort_unstable();
            touched.dedup();
            let inflight = m.protection_changes_in_flight();
            let entry_fp = entry_fingerprint(m, &inflight);
            if entry_fp == c.entry_fp {
                c.pmd_bad.clear();
                c.pmd_ok.clear();
                for (&idx, &pmd) in &m.pt.pmds {
                    if !pte::pmd_is_table(pmd) {
                        let addr = idx << pte::PMD_SHIFT;
                        check_entry(m, &inflight, addr, pmd, Level::Pmd, &mut c);
                    }
                }
                for &addr in &touched {
                    c.bad.retain(|(a, _)| *a != addr);
                    c.ok.retain(|(a, _)| *a != addr);
                    if let Some(t) = m.pt.table_of(addr) {
                        let v = m.pte(t, crate::state::pte_index(addr));
                        if v != 0 {
                            check_entry(m, &inflight, addr, v, Level::Pte, &mut c);
                        }
                    }
                }
            } else {
                c.entry_fp = entry_fp;
                c.bad.clear();
                c.ok.clear();
                c.pmd_bad.clear();
                c.pmd_ok.clear();
                check_all_entries(m, &inflight, &mut c);
            }
            let tlb_fp = tlb_fingerprint(m);
            if tlb_fp == c.tlb_fp {
                // TLB results depend on the entries they translate: recheck those covering
                // a touched address.
                for (cpu, cc) in m.cpus.iter().enumerate() {
                    for t in &cc.tlb {
                        if touched.iter().any(|&a| t.covers(a)) {
                            recheck_tlb_entry(m, cpu, t, &touched, &mut c);
                        }
                    }
                }
            } else {
                c.tlb_fp = tlb_fp;
                c.tlb.clear();
                check_all_tlbs(m, &mut c);
            }
            c
        }
        _ => full(m, details, false),
    };
    touched.clear();
    m.touched_ptes = touched;
    let bad = cache.all_bad();
    m.inv_cache = Some(cache);
    bad
}

/// The entry-local checks (1, 3, 5a, 5b) for one leaf entry.
fn check_entry(
    m: &Machine,
    inflight: &[(Tid, u64, u64)],
    addr: u64,
    v: u64,
    level: Level,
    c: &mut InvCache,
) {
    // Detail strings are built only when someone will read them (not in the explorer).
    let detail_on = c.details;
    let keep_tolerated = c.tolerated;
    // PMD-level results are kept apart: they also read the PMD locks, and are rechecked
    // after every step (there are few PMDs).
    let (bad, ok) = if level == Level::Pmd {
        (&mut c.pmd_bad, &mut c.pmd_ok)
    } else {
        (&mut c.bad, &mut c.ok)
    };
    let kind = pte::classify(v, level);
    let size = if level == Level::Pmd {
        PMD_SIZE
    } else {
        PAGE_SIZE
    };
    // 1. More permissive than the VMA.
    let Some(vma) = m.mm.find_vma(addr) else {
        return;
    };
    let flags = vma.vm_flags;
    let writable = match kind {
        EntryKind::Present | EntryKind::ProtNone | EntryKind::InvalidatedHuge => v & pte::RW != 0,
        EntryKind::Migration(e) => e.kind == MigrationKind::Write,
        _ => false,
    };
    let accessible = v & pte::PRESENT != 0;
    let what = if level == Level::Pmd { "PMD" } else { "PTE" };
    let problem = if writable && flags & VM_WRITE == 0 {
        Some(if detail_on {
            format!(
                "{what} at {addr:#x} is writable ({}) but the VMA's vm_flags {flags:#x} lack VM_WRITE",
                pte::hex(v)
            )
        } else {
            String::new()
        })
    } else if accessible && !vma_is_accessible(flags) {
        Some(if detail_on {
            format!(
                "{what} at {addr:#x} is accessible ({}) but the VMA is PROT_NONE",
                pte::hex(v)
            )
        } else {
            String::new()
        })
    } else {
        None
    };
    if let Some(detail) = problem {
        match inflight
            .iter()
            .find(|&&(_, s, e)| s < addr + size && addr < e)
        {
            Some(_) if !keep_tolerated => {}
            Some(&(by, _, _)) => ok.push((
                addr,
                Tolerated {
                    id: WRITABLE_PTE_IN_READONLY_VMA,
                    detail,
                    by,
                },
            )),
            None => bad.push((
                addr,
                Violation {
                    id: WRITABLE_PTE_IN_READONLY_VMA,
                    detail,
                },
            )),
        }
    }
    let pfn = || {
        if level == Level::Pmd {
            pte::pmd_pfn(v)
        } else {
            pte::pte_pfn(v)
        }
    };
    // 3. Writable anonymous ⇒ exclusive.
    if matches!(kind, EntryKind::Present) && v & pte::RW != 0 {
        let pfn = pfn();
        if m.folio_of(pfn).is_some() && !m.anon_exclusive(pfn) {
            bad.push((
                addr,
                Violation {
                    id: WRITABLE_NOT_EXCLUSIVE,
                    detail: if detail_on { format!(
                        "writable entry at {addr:#x} maps pfn {pfn:#x}, which is not PageAnonExclusive"
                    ) } else { String::new() },
                },
            ));
        }
    }
    // 5a. Present entry → live page.
    if matches!(
        kind,
        EntryKind::Present | EntryKind::ProtNone | EntryKind::InvalidatedHuge
    ) {
        let pfn = pfn();
        if m.folio_of(pfn).is_some_and(|f| f.freed) {
            bad.push((
                addr,
                Violation {
                    id: FREED_PAGE_MAPPED,
                    detail: if detail_on {
                        format!("entry at {addr:#x} maps pfn {pfn:#x}, which was freed")
                    } else {
                        String::new()
                    },
                },
            ));
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
            bad.push((
                addr,
                Violation {
                    id: MIGRATION_ENTRY_UNLOCKED,
                    detail: if detail_on {
                        format!(
                            "migration entry at {addr:#x} for pfn {:#x}, whose folio is not locked",
                            e.pfn
                        )
                    } else {
                        String::new()
                    },
                },
            ));
        }
    }
}

/// 6. A TLB entry more permissive than the page tables, not covered by a pending flush.
fn check_tlb_entry(m: &Machine, cpu: usize, t: &crate::state::TlbEntry, c: &mut InvCache) {
    let mut a = t.vaddr;
    while a < t.vaddr + t.size() {
        if let Some(why) = tlb_more_permissive(m, t, a) {
            let owed = m.flush_owed.iter().any(|&(_, s, e)| s <= a && a < e);
            if !owed {
                c.tlb
                    .push(((cpu, t.vaddr), stale_tlb(c.details, cpu, t, a, &why)));
                return;
            }
        }
        a += PAGE_SIZE;
    }
}

/// Check 6 for a TLB entry after only the PTEs at `touched` (sorted) changed, with
/// everything else it reads unchanged. A result that was clean stays clean at the untouched
/// pages, so the first bad page is the first bad touched one — the same result (and
/// detail) as [`check_tlb_entry`]; a result that was bad is recomputed in full.
fn recheck_tlb_entry(
    m: &Machine,
    cpu: usize,
    t: &crate::state::TlbEntry,
    touched: &[u64],
    c: &mut InvCache,
) {
    let key = (cpu, t.vaddr);
    if c.tlb.iter().any(|(k, _)| *k == key) {
        c.tlb.retain(|(k, _)| *k != key);
        check_tlb_entry(m, cpu, t, c);
        return;
    }
    for &addr in touched {
        let a = page_of(addr);
        if !t.covers(a) {
            continue;
        }
        if let Some(why) = tlb_more_permissive(m, t, a) {
            if !m.flush_owed.iter().any(|&(_, s, e)| s <= a && a < e) {
                c.tlb.push((key, stale_tlb(c.details, cpu, t, a, &why)));
                return;
            }
        }
    }
}

fn stale_tlb(
    details: bool,
    cpu: usize,
    t: &crate::state::TlbEntry,
    a: u64,
    why: &str,
) -> Violation {
    Violation {
        id: STALE_TLB,
        detail: if details {
            format!(
                "CPU {cpu} still translates {a:#x} → pfn {:#x}{}, but {why}",
                t.pfn_for(a),
                if t.writable { " writable" } else { "" }
            )
        } else {
            String::new()
        },
    }
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
pub fn check_after_step(m: &Machine) -> Vec<Violation> {
    let (bad, _) = check_state(m);
    finish_after_step(m, bad)
}

/// [`check_after_step`] with the incremental cache (what `Machine::step` uses).
pub(crate) fn check_after_step_cached(m: &mut Machine) -> Vec<Violation> {
    let bad = check_state_cached(m);
    finish_after_step(m, bad)
}

fn finish_after_step(m: &Machine, mut bad: Vec<Violation>) -> Vec<Violation> {
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
    bad.extend(check_end(m));
    bad
}

/// End-of-run checks: deadlock, locks held by finished threads, lost writes.
pub fn check_end(m: &Machine) -> Vec<Violation> {
    let mut bad = Vec::new();
    for (t, th) in m.threads.iter().enumerate() {
        if m.is_finished(t) && !th.held.is_empty() {
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
    if !(0..m.threads.len()).any(|t| m.is_runnable(t)) {
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
