//! Property tests: random valid scenarios under random schedules never panic, every step the
//! scheduler offers succeeds, and the lock state stays consistent (who holds what agrees
//! between the locks and the threads; sleepers are queued where they say). A fixed-seed
//! generator keeps the test deterministic; `MMRACE_PROPTEST_CASES` raises the count.

use sim_core::explore::SplitMix64;
use sim_core::machine::{Status, Wait};
use sim_core::state::{LockId, RwMode};
use sim_core::{Machine, Scenario};

/// The model's own seeded generator, with a `pick` helper.
struct Rng(SplitMix64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0.below(n)
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

const BASE: u64 = 0x7f00_0000_0000;
const PROTS: &[&str] = &[
    "PROT_NONE",
    "PROT_READ",
    "PROT_READ|PROT_WRITE",
    "PROT_WRITE",
];

fn random_scenario(r: &mut Rng) -> String {
    let version = *r.pick(&["v6.3", "v6.4"]);
    let mutations = [
        "mprotect-no-ptl",
        "mprotect-walk-before-publish",
        "restore-from-stale-entry",
        "mprotect-no-flush",
        "copy-before-flush",
    ];
    let what_if: Vec<&str> = mutations
        .iter()
        .copied()
        .filter(|_| r.below(6) == 0)
        .collect();
    let thp = r.below(3) == 0;
    let cpus = 1 + r.below(3);
    let mut vmas = Vec::new();
    let mut pages = Vec::new();
    let mut thps = Vec::new();
    let mut addrs = Vec::new();
    if thp {
        vmas.push(format!(
            r#"{{"start":"{BASE:#x}","end":"{:#x}","prot":"PROT_READ|PROT_WRITE"}}"#,
            BASE + 0x20_0000
        ));
        thps.push(format!(
            r#"{{"addr":"{BASE:#x}","pfn":"0x40000","writable":{}}}"#,
            r.below(2) == 0
        ));
        for i in 0..4 {
            addrs.push(BASE + i * 0x1000 + r.below(2) * 0x10_0000);
        }
    } else {
        let n = 1 + r.below(4);
        let rw = r.below(4) != 0;
        vmas.push(format!(
            r#"{{"start":"{BASE:#x}","end":"{:#x}","prot":"{}"}}"#,
            BASE + n * 0x1000,
            if rw {
                "PROT_READ|PROT_WRITE"
            } else {
                "PROT_READ"
            }
        ));
        for i in 0..n {
            let a = BASE + i * 0x1000;
            addrs.push(a);
            if r.below(4) != 0 {
                pages.push(format!(
                    r#"{{"addr":"{a:#x}","pfn":"{:#x}","writable":{},"young":{},"dirty":{}}}"#,
                    0x12340 + i,
                    rw && r.below(3) != 0,
                    r.below(4) != 0,
                    r.below(3) != 0
                ));
            }
        }
    }
    let mut next_pfn = 0x50000u64;
    let nthreads = 1 + r.below(3);
    let mut threads = Vec::new();
    for t in 0..nthreads {
        let mut ops = Vec::new();
        for _ in 0..1 + r.below(3) {
            let a = *r.pick(&addrs);
            ops.push(match r.below(6) {
                0 => {
                    let start = BASE + r.below(addrs.len() as u64) * 0x1000;
                    let len = 0x1000 * (1 + r.below(3));
                    format!(
                        r#"{{"op":"mprotect","addr":"{start:#x}","len":"{len:#x}","prot":"{}"}}"#,
                        r.pick(PROTS)
                    )
                }
                1 => {
                    let to = next_pfn;
                    next_pfn += 0x200;
                    format!(r#"{{"op":"migrate","addr":"{a:#x}","to_pfn":"{to:#x}"}}"#)
                }
                2 if thp => format!(r#"{{"op":"split_huge_pmd","addr":"{a:#x}"}}"#),
                2 | 3 => format!(r#"{{"op":"read","addr":"{a:#x}"}}"#),
                _ => format!(
                    r#"{{"op":"write","addr":"{a:#x}","value":"{:#x}"}}"#,
                    r.below(1000)
                ),
            });
        }
        threads.push(format!(
            r#"{{"name":"T{t}","cpu":{},"ops":[{}]}}"#,
            r.below(cpus),
            ops.join(",")
        ));
    }
    let alloc: Vec<String> = (0..16)
        .map(|i| format!(r#""{:#x}""#, 0x90000 + i))
        .collect();
    format!(
        r#"{{"format":1,"kernel":{{"version":"{version}","what_if":[{}]}},"cpus":{cpus},"vmas":[{}],"pages":[{}],"thps":[{}],"alloc_pfns":[{}],"threads":[{}]}}"#,
        what_if
            .iter()
            .map(|m| format!("\"{m}\""))
            .collect::<Vec<_>>()
            .join(","),
        vmas.join(","),
        pages.join(","),
        thps.join(","),
        alloc.join(","),
        threads.join(",")
    )
}

/// Locks and threads agree about who holds and who waits.
fn check_locks(m: &Machine) -> Result<(), String> {
    for (t, th) in m.threads.iter().enumerate() {
        for l in &th.held {
            let ok = match *l {
                LockId::MmapLock => {
                    m.mm.mmap_lock.writer == Some(t) || m.mm.mmap_lock.readers.contains(&t)
                }
                LockId::VmaLock { vma } => {
                    m.mm.vma_by_id(vma)
                        .is_some_and(|v| v.lock_readers.contains(&t))
                }
                other => m.holder(other) == Some(t),
            };
            if !ok {
                return Err(format!("T{t} lists {l:?} as held, but the lock disagrees"));
            }
        }
        match th.waiting {
            Some(Wait::Rwsem { mode, .. }) if !m.mm.mmap_lock.waiters.contains(&(t, mode)) => {
                return Err(format!("T{t} sleeps on mmap_lock but is not queued"));
            }
            Some(Wait::FolioUnlock { pfn }) => {
                let f = m.folios.get(&pfn).ok_or("waits on a missing folio")?;
                if !f.waiters.contains(&t) || f.locked.is_none() {
                    return Err(format!(
                        "T{t} sleeps on folio {pfn:#x}, not queued or not locked"
                    ));
                }
            }
            Some(Wait::VmaWrite { vma })
                if m.mm.vma_by_id(vma).and_then(|v| v.lock_writer_waiting) != Some(t) =>
            {
                return Err(format!(
                    "T{t} waits for vma#{vma} but is not the waiting writer"
                ));
            }
            _ => {}
        }
    }
    let sem = &m.mm.mmap_lock;
    if sem.writer.is_some() && !sem.readers.is_empty() {
        return Err("mmap_lock has a writer and readers".into());
    }
    for &r in sem.readers.iter() {
        if !m.threads[r].held.contains(&LockId::MmapLock) {
            return Err(format!("mmap_lock reader T{r} does not list it"));
        }
    }
    if let Some(w) = sem.writer {
        if !m.threads[w].held.contains(&LockId::MmapLock) {
            return Err(format!("mmap_lock writer T{w} does not list it"));
        }
    }
    for &(w, mode) in sem.waiters.iter() {
        if m.threads[w].waiting
            != Some(Wait::Rwsem {
                lock: LockId::MmapLock,
                mode,
            })
        {
            return Err(format!(
                "T{w} is queued on mmap_lock ({mode:?}) but not asleep"
            ));
        }
        let _ = RwMode::Read;
    }
    for t in 0..m.threads.len() {
        if let Status::Done | Status::Killed { .. } = m.status(t) {
            if m.threads[t].waiting.is_some() {
                return Err(format!("T{t} finished but still waits"));
            }
        }
    }
    Ok(())
}

#[test]
fn random_schedules_of_random_scenarios_never_panic_and_keep_locks_consistent() {
    let cases: u64 = std::env::var("MMRACE_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut r = Rng(SplitMix64::new(0x5eed_2023_0418));
    let mut valid = 0;
    let mut steps_total = 0;
    // Which registered operations the valid scenarios use.
    let mut used: Vec<&str> = Vec::new();
    for case in 0..cases {
        let json = random_scenario(&mut r);
        let sc = match Scenario::from_json(&json) {
            Ok(sc) => sc,
            Err(e) => panic!("case {case}: the generator wrote unparsable JSON: {e}\n{json}"),
        };
        let Ok(mut m) = sc.build() else { continue };
        valid += 1;
        used.extend(
            sc.threads
                .iter()
                .flat_map(|t| t.ops.iter().map(|o| o.name())),
        );
        let mut schedule = Vec::new();
        for _ in 0..4000 {
            let run = m.runnable();
            if run.is_empty() {
                break;
            }
            let t = *r.pick(&run);
            schedule.push(t);
            if let Err(e) = m.step_quiet(t) {
                panic!("case {case}: step {} of runnable T{t} failed: {e}\nschedule {schedule:?}\n{json}", schedule.len() - 1);
            }
            if let Err(e) = check_locks(&m) {
                panic!(
                    "case {case}: after step {}: {e}\nschedule {schedule:?}\n{json}",
                    schedule.len() - 1
                );
            }
            // The cheap `blocked_on` says what `status` says.
            for t in 0..m.threads.len() {
                let want = match m.status(t) {
                    sim_core::Status::Blocked { lock, .. } => Some(lock),
                    _ => None,
                };
                assert_eq!(
                    m.blocked_on(t),
                    want,
                    "case {case}: T{t} after {schedule:?}"
                );
            }
            // The lock view lists every thread blocked on a listed lock among its waiters,
            // once.
            let rows = sim_core::lock_view::rows(&m);
            for r in &rows {
                let mut ts: Vec<usize> = r.waiters.iter().map(|w| w.thread).collect();
                ts.sort_unstable();
                ts.dedup();
                assert_eq!(
                    ts.len(),
                    r.waiters.len(),
                    "case {case}: {:?} lists a waiter twice",
                    r.lock
                );
                for t in 0..m.threads.len() {
                    if m.blocked_on(t) == Some(r.lock) {
                        assert!(
                            ts.contains(&t),
                            "case {case}: T{t} blocked on {:?}, not listed",
                            r.lock
                        );
                    }
                }
            }
            assert_eq!(rows[0].lock, sim_core::state::LockId::MmapLock);
        }
        steps_total += schedule.len();
    }
    assert!(
        valid >= cases / 2,
        "only {valid} of {cases} generated scenarios were valid"
    );
    assert!(steps_total > 1000);
    for op in sim_core::ops::REGISTRY {
        assert!(
            used.contains(&op.name),
            "the generator never wrote the operation `{}`: add it to random_scenario",
            op.name
        );
    }
}

/// Malformed scenario files give a clear error with the JSON path, never a panic.
#[test]
fn bad_scenarios_give_path_errors() {
    let good = sim_core::library::get("seed-mprotect-vs-migration-v6.4.json").unwrap();
    let cases: &[(&str, &str, &str)] = &[
        ("", "$", "invalid JSON"),
        ("{", "$", "invalid JSON"),
        (r#"{"format":1}"#, "$", "missing field"),
        (
            &good.replace(r#""format": 1"#, r#""format": 7"#),
            "format",
            "unsupported format version 7",
        ),
        (
            &good.replace(r#""cpu": 1,"#, r#""cpu": 9,"#),
            "threads[1].cpu",
            "CPU 9 does not exist",
        ),
        (
            &good.replace(r#""end": "0x7f0000001000""#, r#""end": "0x7f0000001001""#),
            "vmas[0].end",
            "not page-aligned",
        ),
        (
            &good.replace(r#""to_pfn": "0x23456""#, r#""to_pfn": "0x12345""#),
            "threads[1].ops[0].to_pfn",
            "already used",
        ),
        (
            &good.replace(r#""op": "migrate""#, r#""op": "munmap""#),
            "threads[1].ops[0].op",
            "unknown operation `munmap`",
        ),
        (
            &good.replace(
                "\"op\": \"migrate\",\n          \"addr\": \"0x7f0000000000\"",
                "\"op\": \"migrate\",\n          \"addr\": \"0xzz\"",
            ),
            "threads[1].ops[0].addr",
            "`0xzz` is not a number",
        ),
        (
            &good.replace(r#""steps": "0x6 1* 0* 2*""#, r#""steps": "0x6 1* 0* 2* 0""#),
            "schedules[0].steps",
            "step 34 of the schedule: thread 0 has finished",
        ),
        (
            &good.replace(r#""prot": "PROT_READ""#, r#""prot": "PROT_RAED""#),
            "threads[0].ops[0].prot",
            "unknown protection",
        ),
    ];
    for (json, path, msg) in cases {
        let e = Scenario::from_json(json)
            .and_then(|s| s.build().map(|_| s))
            .expect_err(json);
        assert_eq!(e.path, *path, "{e}");
        assert!(e.message.contains(msg), "{e}");
    }
    let overlapping = good.replace(
        r#""vmas": ["#,
        r#""vmas": [ { "start": "0x7f0000000000", "end": "0x7f0000002000", "prot": "PROT_READ" },"#,
    );
    let e = Scenario::from_json(&overlapping)
        .unwrap()
        .build()
        .unwrap_err();
    assert!(e.message.contains("overlaps"), "{e}");
    let huge = " ".repeat(sim_core::scenario::MAX_JSON_BYTES + 1);
    assert!(Scenario::from_json(&huge)
        .unwrap_err()
        .message
        .contains("limit"));
}

/// The invariant ids a full, uncached check reports for `m` (state and end-of-run checks;
/// the event check `write-after-mprotect-returned` needs the step's events and is left out).
fn full_check_ids(m: &Machine) -> Vec<&'static str> {
    let (bad, _) = sim_core::invariants::check_state(m);
    let mut ids: Vec<&'static str> = bad
        .into_iter()
        .chain(sim_core::invariants::check_end(m))
        .map(|v| v.id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The incremental invariant cache (`InvCache`: PTE results reused while the entry
/// fingerprint holds, TLB results rechecked only at written PTEs) reports exactly what a
/// full check reports, after every step of random schedules of random scenarios — with
/// and without step recording (the two keep separate caches).
#[test]
fn cached_invariant_checks_agree_with_full_checks() {
    let cases: u64 = std::env::var("MMRACE_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut r = Rng(SplitMix64::new(0xcac4_e0f1_2026));
    let mut compared = 0usize;
    let mut violated = 0usize;
    for case in 0..cases {
        let json = random_scenario(&mut r);
        let Ok(sc) = Scenario::from_json(&json) else {
            panic!("case {case}: unparsable JSON\n{json}");
        };
        let Ok(mut m) = sc.build() else { continue };
        let record = r.below(2) == 0;
        let mut schedule = Vec::new();
        for _ in 0..2000 {
            let run = m.runnable();
            if run.is_empty() {
                break;
            }
            let t = *r.pick(&run);
            schedule.push(t);
            let mut ids = if record {
                m.step(t).expect("runnable").violated
            } else {
                m.step_quiet(t).expect("runnable")
            };
            ids.retain(|id| *id != sim_core::invariants::WRITE_AFTER_MPROTECT);
            ids.dedup();
            let full = full_check_ids(&m);
            assert_eq!(
                ids, full,
                "case {case}: after step {} the cached check differs from a full one\nschedule {schedule:?}\n{json}",
                schedule.len() - 1
            );
            compared += 1;
            violated += !full.is_empty() as usize;
        }
    }
    assert!(compared > 1000, "only {compared} steps compared");
    // The comparison must cover states with violations, not only clean ones.
    assert!(violated > 10, "only {violated} violating states compared");
}

/// Reduction on and off agree on random small scenarios: the same verdict for every
/// invariant and the same shortest counterexample length (and, with sleep sets, the same
/// states). Searches that hit the budget are skipped; enough must complete.
#[test]
fn reduction_agrees_with_the_full_search_on_random_scenarios() {
    use sim_core::explore::{explore, ExploreOptions};
    let cases: u64 = std::env::var("MMRACE_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(60, |n: u64| n / 5);
    let mut r = Rng(SplitMix64::new(0x0e0f_f0e0_2026));
    let mut complete = 0;
    let mut with_violation = 0;
    for case in 0..cases {
        let json = random_scenario(&mut r);
        let Ok(sc) = Scenario::from_json(&json) else {
            panic!("case {case}: unparsable JSON\n{json}");
        };
        let Ok(m) = sc.build() else { continue };
        let run = |reduction| {
            explore(
                &m,
                &ExploreOptions {
                    reduction,
                    max_states: 20_000,
                    progress_every: 0,
                    ..ExploreOptions::default()
                },
            )
        };
        let off = run(false);
        if !off.complete {
            continue;
        }
        let on = run(true);
        assert!(
            on.complete,
            "case {case}: reduced search incomplete\n{json}"
        );
        complete += 1;
        with_violation += off.any_violated() as usize;
        assert_eq!(on.states, off.states, "case {case}: states\n{json}");
        for (a, b) in off.per_invariant.iter().zip(&on.per_invariant) {
            assert_eq!(
                (&a.id, a.violated, a.length),
                (&b.id, b.violated, b.length),
                "case {case}: verdict or counterexample length differs\n{json}"
            );
        }
    }
    assert!(
        complete >= cases / 3,
        "only {complete} of {cases} searches completed"
    );
    assert!(with_violation > 0, "no random scenario had a violation");
}
