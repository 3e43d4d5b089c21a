//! Collapsing runs of alike page-table entries, so that a 512-entry table after a THP split
//! reads as one line ("PTE 0–511: present RW U A D SD NX, pfn 0x40000+i").
//!
//! Two neighbouring entries are alike when the second continues the first: both none; both
//! present (or both PROT_NONE) with the same flag bits and the pfn one higher; or both migration
//! entries of the same kind with the same young/dirty/soft-dirty/uffd-wp bits and the pfn one
//! higher. An entry that changed in the last step is alike only to neighbours that changed too,
//! so a single changed entry breaks its run and stays visible, while a bulk change (a table
//! filled at once) still collapses.
//!
//! Shared by the stepper (`frontend/src/tables.rs`) and the exported pictures
//! (`render/src/draw.rs`), so a slide collapses exactly what the screen does.

use crate::machine::Machine;
use crate::pte::{self, EntryKind, Level};

/// The slots of the PTE table `table` (mapped at `base`, or `deposited` under a huge PMD)
/// that are shown, in order: every populated entry, plus, for a mapped table, every slot a
/// VMA covers (an empty slot inside a VMA is worth seeing: a fault would fill it). Marked in
/// a bitmap of the table's 512 slots rather than sorted: a sort is one more generic instance
/// in the app's size-budgeted wasm.
pub fn slots(m: &Machine, base: u64, table: u64, deposited: bool) -> Vec<u16> {
    let mut shown = [false; pte::PTRS_PER_TABLE as usize];
    let mut mark = |i: u64| {
        if let Some(s) = shown.get_mut(i as usize) {
            *s = true;
        }
    };
    if let Some(t) = m.pt.tables.get(&table) {
        t.entries.keys().for_each(|&i| mark(i.into()));
    }
    if !deposited {
        for v in &m.mm.vmas {
            let mut a = v.start.max(base);
            let e = v.end.min(base + pte::PMD_SIZE);
            while a < e {
                mark((a - base) >> pte::PAGE_SHIFT);
                a += pte::PAGE_SIZE;
            }
        }
    }
    (0..pte::PTRS_PER_TABLE as u16)
        .filter(|&i| shown[usize::from(i)])
        .collect()
}

/// Runs at least this long collapse.
pub const MIN_RUN: usize = 4;

/// One row of a PTE table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Row {
    /// A single entry.
    One(u16),
    /// Entries `start..=end`, alike.
    Run { start: u16, end: u16 },
}

impl Row {
    /// The first and last entry of the row (the same index for a single entry).
    pub fn span(self) -> (u16, u16) {
        match self {
            Row::One(i) => (i, i),
            Row::Run { start, end } => (start, end),
        }
    }
}

/// Whether `cur` continues `prev` (the entry before it).
pub fn alike(prev: u64, cur: u64) -> bool {
    let (a, b) = (
        pte::classify(prev, Level::Pte),
        pte::classify(cur, Level::Pte),
    );
    match (a, b) {
        (EntryKind::None, EntryKind::None) => true,
        (EntryKind::Present, EntryKind::Present) | (EntryKind::ProtNone, EntryKind::ProtNone) => {
            pte::pte_flags(prev) == pte::pte_flags(cur)
                && pte::pte_pfn(cur) == pte::pte_pfn(prev).wrapping_add(1)
        }
        (EntryKind::Migration(x), EntryKind::Migration(y)) => {
            x.kind == y.kind
                && x.young == y.young
                && x.dirty == y.dirty
                && x.soft_dirty == y.soft_dirty
                && x.uffd_wp == y.uffd_wp
                && y.pfn == x.pfn.wrapping_add(1)
        }
        _ => false,
    }
}

/// Group `slots` (sorted, distinct indexes) into rows.
pub fn rows(slots: &[u16], get: impl Fn(u16) -> u64, changed: impl Fn(u16) -> bool) -> Vec<Row> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < slots.len() {
        let mut j = i + 1;
        while j < slots.len()
            && slots[j] == slots[j - 1] + 1
            && changed(slots[j]) == changed(slots[j - 1])
            && alike(get(slots[j - 1]), get(slots[j]))
        {
            j += 1;
        }
        if j - i >= MIN_RUN {
            out.push(Row::Run {
                start: slots[i],
                end: slots[j - 1],
            });
        } else {
            out.extend(slots[i..j].iter().map(|&s| Row::One(s)));
        }
        i = j;
    }
    out
}

/// How a run reads: the first entry's description with `pfn X+i`.
pub fn describe_run(first: u64, len: usize) -> String {
    let d = pte::describe(first, Level::Pte);
    if len < 2 {
        return d;
    }
    let pfn = match pte::classify(first, Level::Pte) {
        EntryKind::Present | EntryKind::ProtNone => pte::pte_pfn(first),
        EntryKind::Migration(m) => m.pfn,
        _ => return d,
    };
    let p = format!("pfn {pfn:#x}");
    d.replacen(&p, &format!("{p}+i"), 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pte::{MigrationEntry, MigrationKind};

    const RW: u64 = 0x8000_0000_0000_0867;

    fn present(pfn: u64) -> u64 {
        (RW & !pte::PTE_PFN_MASK) | (pfn << 12)
    }

    #[test]
    fn a_split_table_is_one_run() {
        let slots: Vec<u16> = (0..512).collect();
        let r = rows(&slots, |i| present(0x40000 + i as u64), |_| false);
        assert_eq!(r, vec![Row::Run { start: 0, end: 511 }]);
        assert_eq!(
            describe_run(present(0x40000), 512),
            "present RW U A D SD NX, pfn 0x40000+i"
        );
    }

    #[test]
    fn a_changed_entry_breaks_the_run() {
        let slots: Vec<u16> = (0..512).collect();
        let r = rows(&slots, |i| present(0x40000 + i as u64), |i| i == 100);
        assert_eq!(
            r,
            vec![
                Row::Run { start: 0, end: 99 },
                Row::One(100),
                Row::Run {
                    start: 101,
                    end: 511
                }
            ]
        );
        // A bulk change collapses.
        let r = rows(&slots, |i| present(0x40000 + i as u64), |_| true);
        assert_eq!(r, vec![Row::Run { start: 0, end: 511 }]);
    }

    #[test]
    fn different_flags_or_pfns_break_runs_and_short_runs_stay_rows() {
        let slots: Vec<u16> = (0..8).collect();
        let get = |i: u16| {
            if i < 4 {
                present(0x100 + i as u64)
            } else {
                present(0x100 + i as u64) & !pte::RW
            }
        };
        assert_eq!(
            rows(&slots, get, |_| false),
            vec![Row::Run { start: 0, end: 3 }, Row::Run { start: 4, end: 7 }]
        );
        // The default scenario's two PTEs are rows.
        assert_eq!(
            rows(&[0, 1], |i| present(0x12345 + i as u64), |_| false),
            vec![Row::One(0), Row::One(1)]
        );
        // Same pfn twice is not a run.
        assert_eq!(rows(&[0, 1, 2, 3], |_| present(5), |_| false).len(), 4);
        // A gap in the slots breaks the run.
        assert_eq!(
            rows(&[0, 1, 2, 4, 5, 6], |i| present(i as u64), |_| false).len(),
            6
        );
    }

    #[test]
    fn migration_entries_and_none_runs() {
        let mig = |pfn| {
            MigrationEntry {
                kind: MigrationKind::Write,
                pfn,
                young: true,
                dirty: true,
                soft_dirty: false,
                uffd_wp: false,
            }
            .encode()
        };
        let slots: Vec<u16> = (0..512).collect();
        let r = rows(&slots, |i| mig(0x40000 + i as u64), |_| false);
        assert_eq!(r, vec![Row::Run { start: 0, end: 511 }]);
        assert_eq!(
            describe_run(mig(0x40000), 512),
            "migration: write, pfn 0x40000+i, young, dirty"
        );
        assert_eq!(
            rows(&slots, |_| 0, |_| false),
            vec![Row::Run { start: 0, end: 511 }]
        );
        assert_eq!(describe_run(0, 512), "none");
    }
}
