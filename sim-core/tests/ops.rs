//! Unit tests per operation: each checks one kernel behaviour the model must get exactly
//! right, on a small scenario written inline.

use sim_core::machine::Status;
use sim_core::pte::{self, MigrationEntry, MigrationKind};
use sim_core::record::Listing;
use sim_core::state::LockId;
use sim_core::{Machine, Scenario};

const A: u64 = 0x7f00_0000_0000;

/// One private anonymous RW page at A (pfn 0x12345), CPU 1 caching it, and the given threads.
fn one_page(version: &str, what_if: &str, threads: &str) -> Machine {
    let json = format!(
        r#"{{"format":1,"kernel":{{"version":"{version}","what_if":[{what_if}]}},"cpus":3,
        "vmas":[{{"start":"0x7f0000000000","end":"0x7f0000002000","prot":"PROT_READ|PROT_WRITE"}}],
        "pages":[{{"addr":"0x7f0000000000","pfn":"0x12345","data":"0x11"}},
                 {{"addr":"0x7f0000001000","pfn":"0x12346","writable":false,"exclusive":false}}],
        "tlb":[{{"cpu":1,"addr":"0x7f0000000000"}}],
        "alloc_pfns":["0x30000","0x30001"],
        "threads":[{threads}]}}"#
    );
    Scenario::from_json(&json).unwrap().build().unwrap()
}

fn thp(version: &str, threads: &str) -> Machine {
    let json = format!(
        r#"{{"format":1,"kernel":{{"version":"{version}"}},"cpus":2,
        "vmas":[{{"start":"0x7f0000000000","end":"0x7f0000200000","prot":"PROT_READ|PROT_WRITE"}}],
        "thps":[{{"addr":"0x7f0000000000","pfn":"0x40000","data":"0x100"}}],
        "threads":[{threads}]}}"#
    );
    Scenario::from_json(&json).unwrap().build().unwrap()
}

fn pte_at(m: &Machine, addr: u64) -> u64 {
    let t = m.pt.table_of(addr).expect("a PTE table");
    m.pte(t, sim_core::state::pte_index(addr))
}

/// Step `tid` until its next step would execute `func` (or it stops being runnable).
fn run_until(m: &mut Machine, tid: usize, func: &str) {
    for _ in 0..10_000 {
        if !m.is_runnable(tid) {
            return;
        }
        let pos = m.position(tid);
        if pos.last().is_some_and(|p| p.info().func == func) {
            return;
        }
        m.step(tid).unwrap();
    }
    panic!("{func} never reached");
}

fn run_all(m: &mut Machine, tid: usize) {
    while m.is_runnable(tid) {
        m.step(tid).unwrap();
    }
}

const MPROTECT_RO: &str = r#"{"name":"mprotect","cpu":0,"ops":[{"op":"mprotect","addr":"0x7f0000000000","len":"0x2000","prot":"PROT_READ"}]}"#;
const MIGRATE: &str = r#"{"name":"migrate","cpu":2,"ops":[{"op":"migrate","addr":"0x7f0000000000","to_pfn":"0x23456"}]}"#;

// ----------------------------------------------------------------------------- mprotect

#[test]
fn mprotect_publishes_flags_then_prot_then_walks_under_the_ptl_then_flushes_then_unlocks() {
    let mut m = one_page("v6.4", "", MPROTECT_RO);
    let mut order = Vec::new();
    while m.is_runnable(0) {
        let r = m.step(0).unwrap();
        for c in &r.changes {
            let what = match c {
                sim_core::record::Change::VmFlags { .. } => "vm_flags",
                sim_core::record::Change::Pte { .. } => "pte",
                sim_core::record::Change::Tlb { new: None, .. } => "flush",
                _ => continue,
            };
            if order.last() != Some(&what) {
                order.push(what);
            }
        }
        for l in &r.locks {
            if let sim_core::record::LockEvent::Released { lock, .. } = l {
                order.push(match lock {
                    LockId::Ptl { .. } => "ptl-unlock",
                    LockId::MmapLock => "mmap-unlock",
                    _ => "other-unlock",
                });
            }
        }
    }
    assert_eq!(
        order,
        ["vm_flags", "pte", "ptl-unlock", "flush", "mmap-unlock"]
    );
    assert_eq!(pte_at(&m, A), 0x8000000012345865);
    assert_eq!(m.mm.vmas[0].vm_flags, 0x08100071);
    assert!(
        m.cpus[1].tlb.is_empty(),
        "the writable translation was flushed"
    );
    assert_eq!(m.threads[0].results, vec![0]);
}

#[test]
fn ptep_modify_prot_start_leaves_the_entry_none_until_the_commit() {
    let mut m = one_page("v6.4", "", MPROTECT_RO);
    run_until(&mut m, 0, "change_pte_range");
    m.step(0).unwrap(); // take the PT lock
    let r = m.step(0).unwrap(); // ptep_modify_prot_start
    assert_eq!(r.line_text.split_whitespace().next(), Some("oldpte"));
    assert_eq!(pte_at(&m, A), 0);
    m.step(0).unwrap();
    assert_eq!(pte_at(&m, A), 0x8000000012345865);
}

#[test]
fn mprotect_rw_upgrades_exclusive_pages_only() {
    // can_change_pte_writable: exclusive anon page → RW now; shared page stays read-only.
    let mut m = one_page("v6.4", "", MPROTECT_RO);
    run_all(&mut m, 0);
    let json = r#"{"name":"rw","cpu":0,"ops":[{"op":"mprotect","addr":"0x7f0000000000","len":"0x2000","prot":"PROT_READ|PROT_WRITE"}]}"#;
    let mut m2 = one_page("v6.4", "", &format!("{MPROTECT_RO},{json}"));
    run_all(&mut m2, 0);
    run_all(&mut m2, 1);
    assert_eq!(pte_at(&m2, A), 0x8000000012345867, "exclusive: upgraded");
    assert!(
        !pte::pte_write(pte_at(&m2, A + 0x1000)),
        "shared: stays read-only"
    );
}

#[test]
fn partial_mprotect_splits_the_vma_and_a_later_one_merges_it_back() {
    let t = r#"{"name":"m","cpu":0,"ops":[
        {"op":"mprotect","addr":"0x7f0000001000","len":"0x1000","prot":"PROT_READ"},
        {"op":"mprotect","addr":"0x7f0000001000","len":"0x1000","prot":"PROT_READ|PROT_WRITE"}]}"#;
    let mut m = one_page("v6.3", "", t);
    while m.threads[0].op_index < 1 {
        m.step(0).unwrap();
    }
    assert_eq!(m.mm.vmas.len(), 2);
    assert_eq!(
        (m.mm.vmas[1].start, m.mm.vmas[1].end),
        (A + 0x1000, A + 0x2000)
    );
    assert!(m.mm.vmas[1].split_by_mprotect);
    assert_eq!(m.mm.vmas[1].vm_flags & 0x2, 0);
    run_all(&mut m, 0);
    assert_eq!(m.mm.vmas.len(), 1, "vma_merge joined them again");
    assert_eq!((m.mm.vmas[0].start, m.mm.vmas[0].end), (A, A + 0x2000));
}

#[test]
fn writable_migration_entry_becomes_readable_exclusive_keeping_young_and_dirty() {
    let mut m = one_page("v6.3", "", &format!("{MPROTECT_RO},{MIGRATE}"));
    run_until(&mut m, 1, "migrate_pages_batch"); // unmapped: a write migration entry
    let e = MigrationEntry::decode(pte_at(&m, A)).unwrap();
    assert_eq!(
        (e.kind, e.young, e.dirty),
        (MigrationKind::Write, true, true)
    );
    run_all(&mut m, 0);
    let e = MigrationEntry::decode(pte_at(&m, A)).unwrap();
    assert_eq!(
        (e.kind, e.pfn, e.young, e.dirty),
        (MigrationKind::ReadExclusive, 0x12345, true, true)
    );
    assert_eq!(pte_at(&m, A), 0xcfffe7fffdb97402);
}

#[test]
fn thp_is_split_when_a_vma_boundary_cuts_it() {
    let t = r#"{"name":"m","cpu":0,"ops":[{"op":"mprotect","addr":"0x7f0000000000","len":"0x1000","prot":"PROT_READ"}]}"#;
    let mut m = thp("v6.4", t);
    run_all(&mut m, 0);
    assert_eq!(m.mm.vmas.len(), 2);
    assert_eq!(pte_at(&m, A), 0x8000000040000865);
    assert_eq!(
        pte_at(&m, A + 0x1000),
        0x8000000040001867,
        "the rest keeps RW (v6.4: from the PMD)"
    );
    let f = &m.folios[&0x40000];
    assert_eq!((f.refcount, f.entire_mapcount, f.mapcount[7]), (512, 0, 1));
}

// ----------------------------------------------------------------------------- migration

#[test]
fn migration_restore_write_bit_v63_rechecks_the_vma_v64_trusts_the_entry() {
    for (version, want_rw) in [("v6.3", false), ("v6.4", true)] {
        let mut m = one_page(version, "", &format!("{MPROTECT_RO},{MIGRATE}"));
        // Unmap (write entry), then mprotect publishes, then the restore builds the PTE.
        run_until(&mut m, 1, "migrate_pages_batch");
        run_until(&mut m, 0, "change_pmd_range");
        run_until(&mut m, 1, "migrate_folio_move");
        assert_eq!(pte::pte_write(pte_at(&m, A)), want_rw, "{version}");
        assert!(
            m.broken.is_empty(),
            "{version}: tolerated while mprotect is in flight"
        );
        run_all(&mut m, 0);
        run_all(&mut m, 1);
        assert!(
            !pte::pte_write(pte_at(&m, A)),
            "{version}: the walk fixed it"
        );
        assert!(m.broken.is_empty());
        assert_eq!(pte::pte_pfn(pte_at(&m, A)), 0x23456);
        assert_eq!(m.read_data(0x23456), 0x11, "data copied");
        assert!(m.folios[&0x12345].freed);
    }
}

#[test]
fn migration_entry_types_follow_write_and_exclusive() {
    let mut m = one_page(
        "v6.4",
        "",
        &format!(
            "{MIGRATE},{}",
            r#"{"name":"m2","cpu":0,"ops":[{"op":"migrate","addr":"0x7f0000001000","to_pfn":"0x23457"}]}"#
        ),
    );
    run_until(&mut m, 0, "migrate_pages_batch");
    run_until(&mut m, 1, "migrate_pages_batch");
    assert_eq!(
        MigrationEntry::decode(pte_at(&m, A)).unwrap().kind,
        MigrationKind::Write
    );
    // The shared read-only page: neither writable nor exclusive → a plain read entry.
    assert_eq!(
        MigrationEntry::decode(pte_at(&m, A + 0x1000)).unwrap().kind,
        MigrationKind::Read
    );
    assert!(m.mm.tlb_flush_batched, "the unmap flush is deferred");
    assert_eq!(
        m.cpus[1].tlb.len(),
        1,
        "CPU 1 still caches the old translation"
    );
    m.step(0).unwrap(); // try_to_unmap_flush
    assert!(m.cpus[1].tlb.is_empty());
}

#[test]
fn a_second_migration_of_an_isolated_folio_is_ebusy() {
    let mig2 = r#"{"name":"m2","cpu":0,"ops":[{"op":"migrate","addr":"0x7f0000000000","to_pfn":"0x23999"}]}"#;
    let mut m = one_page("v6.4", "", &format!("{MIGRATE},{mig2}"));
    m.step(0).unwrap();
    run_all(&mut m, 1);
    assert_eq!(m.threads[1].results, vec![-16]);
}

#[test]
fn pmd_mapped_thp_migrates_whole_through_a_pmd_migration_entry() {
    let t = r#"{"name":"mig","cpu":0,"ops":[{"op":"migrate","addr":"0x7f0000005000","to_pfn":"0x80000"}]}"#;
    let mut m = thp("v6.3", t);
    run_until(&mut m, 0, "migrate_pages_batch");
    let e = MigrationEntry::decode(m.pmd(A)).expect("a PMD migration entry");
    assert_eq!((e.kind, e.pfn), (MigrationKind::Write, 0x40000));
    run_all(&mut m, 0);
    let pmd = m.pmd(A);
    assert!(pte::pmd_trans_huge(pmd) && pte::pmd_write(pmd));
    assert_eq!(pte::pmd_pfn(pmd), 0x80000);
    assert_eq!(m.read_data(0x80000 + 5), 0x105);
    assert!(m.broken.is_empty());
}

// ----------------------------------------------------------------------------- THP split

#[test]
fn split_builds_512_ptes_with_version_specific_write_and_dirty() {
    let split =
        r#"{"name":"split","cpu":0,"ops":[{"op":"split_huge_pmd","addr":"0x7f0000000000"}]}"#;
    for v in ["v6.3", "v6.4"] {
        let mut m = thp(v, split);
        run_until(&mut m, 0, "__split_huge_pmd_locked");
        m.step(0).unwrap(); // pmdp_invalidate
        let inv = m.pmd(A);
        assert_eq!(inv & (pte::PRESENT | pte::PROTNONE), 0);
        assert!(
            pte::pmd_present(inv) && pte::pmd_trans_huge(inv),
            "still huge to software"
        );
        run_all(&mut m, 0);
        assert!(pte::pmd_is_table(m.pmd(A)));
        let t = m.pt.table_of(A).unwrap();
        assert_eq!(m.pt.tables[&t].entries.len(), 512);
        for i in [0u16, 1, 511] {
            let e = m.pte(t, i);
            assert_eq!(e, 0x8000000040000867 + ((i as u64) << 12), "{v} pte {i}");
        }
        assert!(
            m.pt.deposited.is_empty(),
            "the deposited table was withdrawn"
        );
    }
}

#[test]
fn split_of_a_pmd_migration_entry_gives_512_pte_migration_entries() {
    let t = r#"{"name":"mig","cpu":0,"ops":[{"op":"migrate","addr":"0x7f0000000000","to_pfn":"0x80000"}]},
               {"name":"split","cpu":1,"ops":[{"op":"split_huge_pmd","addr":"0x7f0000000000"}]}"#;
    let mut m = thp("v6.4", t);
    run_until(&mut m, 0, "migrate_pages_batch");
    run_all(&mut m, 1);
    let tb = m.pt.table_of(A).unwrap();
    let e = MigrationEntry::decode(m.pte(tb, 3)).unwrap();
    assert_eq!((e.kind, e.pfn), (MigrationKind::Write, 0x40003));
    run_all(&mut m, 0);
    assert_eq!(pte::pte_pfn(m.pte(tb, 3)), 0x80003, "restored PTE by PTE");
    assert!(m.broken.is_empty());
}

// ----------------------------------------------------------------------------- user access

#[test]
fn tlb_hit_store_needs_writable_and_dirty_and_a_walk_sets_a_and_d() {
    let w = r#"{"name":"w","cpu":1,"ops":[{"op":"write","addr":"0x7f0000000008","value":"0x5"}]},
               {"name":"r","cpu":2,"ops":[{"op":"read","addr":"0x7f0000000000"}]}"#;
    let mut m = one_page("v6.4", "", w);
    let r = m.step(0).unwrap();
    assert_eq!(r.line.listing, Listing::Access);
    assert_eq!(r.line.line, 0, "TLB hit");
    assert_eq!(m.read_data(0x12345), 0x5);
    let r = m.step(1).unwrap();
    assert_eq!(r.line.line, 1, "a page walk on CPU 2");
    assert_eq!(m.cpus[2].tlb.len(), 1);
}

#[test]
fn store_to_a_read_only_exclusive_page_reuses_it_in_do_wp_page() {
    let w = r#"{"name":"w","cpu":0,"ops":[{"op":"write","addr":"0x7f0000000000","value":"0x7"}]}"#;
    let json_ro = one_page("v6.4", "", w);
    let mut m = json_ro;
    // Make page 0 read-only but exclusive (as after mprotect(RO) + mprotect(RW) of a shared page).
    let t = m.pt.table_of(A).unwrap();
    m.pt.tables
        .get_mut(&t)
        .unwrap()
        .entries_mut()
        .insert(0, 0x8000000012345865);
    m.cpus[1].tlb.clear();
    run_all(&mut m, 0);
    assert_eq!(
        pte_at(&m, A),
        0x8000000012345867,
        "reused: maybe_mkwrite(pte_mkdirty())"
    );
    assert_eq!(m.read_data(0x12345), 0x7);
}

#[test]
fn store_to_a_shared_page_copies_it() {
    let w = r#"{"name":"w","cpu":0,"ops":[{"op":"write","addr":"0x7f0000001000","value":"0x9"}]}"#;
    let mut m = one_page("v6.3", "", w);
    run_all(&mut m, 0);
    assert_eq!(
        pte_at(&m, A + 0x1000),
        0x8000000030000867,
        "a new exclusive page from alloc_pfns"
    );
    assert_eq!(m.read_data(0x30000), 0x9);
    assert_eq!(m.read_data(0x12346), 0, "the shared page is untouched");
    assert!(m.anon_exclusive(0x30000));
}

#[test]
fn store_after_mprotect_read_gets_sigsegv_accerr() {
    let w = r#"{"name":"w","cpu":1,"ops":[{"op":"write","addr":"0x7f0000000000","value":"0x9"}]}"#;
    let mut m = one_page("v6.4", "", &format!("{MPROTECT_RO},{w}"));
    run_all(&mut m, 0);
    run_all(&mut m, 1);
    assert_eq!(
        m.status(1),
        Status::Killed {
            addr: A,
            code: "SEGV_ACCERR"
        }
    );
    assert_eq!(m.read_data(0x12345), 0x11);
    assert!(m.broken.is_empty());
}

#[test]
fn fault_on_a_migration_entry_sleeps_on_the_folio_holding_mmap_lock_until_unlock() {
    let r = r#"{"name":"r","cpu":0,"ops":[{"op":"read","addr":"0x7f0000000000"}]}"#;
    for v in ["v6.3", "v6.4"] {
        let mut m = one_page(v, "", &format!("{MIGRATE},{r}"));
        run_until(&mut m, 0, "migrate_pages_batch");
        m.step(0).unwrap(); // flush: CPU 0 has nothing cached anyway
        run_all(&mut m, 1);
        match m.status(1) {
            Status::Blocked { lock, .. } => assert_eq!(lock, LockId::Folio { pfn: 0x12345 }),
            s => panic!("{v}: {s:?}"),
        }
        // v6.4 retried under mmap_lock (do_swap_page's VM_FAULT_RETRY under the VMA lock).
        assert_eq!(
            m.mm.mmap_lock.readers.0,
            vec![1],
            "{v}: sleeps with mmap_lock held for read"
        );
        run_all(&mut m, 0);
        assert!(m.is_runnable(1), "{v}: woken by folio_unlock");
        run_all(&mut m, 1);
        assert_eq!(m.status(1), Status::Done);
        assert!(m.broken.is_empty());
    }
}

#[test]
fn v64_fault_uses_the_vma_lock_and_mprotect_waits_for_it() {
    // A store to the shared read-only page faults (and will copy it).
    let w = r#"{"name":"w","cpu":0,"ops":[{"op":"write","addr":"0x7f0000001000","value":"0x3"}]}"#;
    let mut m = one_page("v6.4", "", &format!("{MPROTECT_RO},{w}"));
    m.step(1).unwrap(); // #PF
    m.step(1).unwrap(); // lock_vma_under_rcu
    assert_eq!(m.mm.vmas[0].lock_readers.0, vec![1]);
    run_until(&mut m, 0, "vm_flags_reset");
    m.step(0).unwrap(); // vma_start_write must wait
    assert!(matches!(
        m.status(0),
        Status::Blocked {
            lock: LockId::VmaLock { .. },
            ..
        }
    ));
    run_all(&mut m, 1);
    assert!(
        m.is_runnable(0),
        "the last reader's vma_end_read lets mprotect go on"
    );
    run_all(&mut m, 0);
    assert!(m.broken.is_empty());
}

#[test]
fn first_touch_maps_the_zero_page_on_load_and_a_new_page_on_store() {
    let json = r#"{"format":1,"kernel":{"version":"v6.4"},"cpus":1,
        "vmas":[{"start":"0x7f0000000000","end":"0x7f0000002000","prot":"PROT_READ|PROT_WRITE"}],
        "alloc_pfns":["0x30000"],
        "threads":[{"name":"t","cpu":0,"ops":[{"op":"read","addr":"0x7f0000000000"},{"op":"write","addr":"0x7f0000001000","value":"0x1"}]}]}"#;
    let mut m = Scenario::from_json(json).unwrap().build().unwrap();
    run_all(&mut m, 0);
    let zero = pte_at(&m, A);
    assert_eq!(pte::pte_pfn(zero), m.zero_pfn());
    assert!(zero & pte::SPECIAL != 0 && !pte::pte_write(zero));
    assert_eq!(pte_at(&m, A + 0x1000), 0x8000000030000867);
    assert!(m.broken.is_empty());
}
