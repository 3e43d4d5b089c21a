//! The litmus text format: JSON → text → JSON is the identity on every shipped scenario and
//! on randomly generated ones; the committed `.litmus` twins are up to date (regenerate with
//! `MMRACE_BLESS=1 cargo test -p sim-core --test litmus`); bad input gives positioned errors
//! and never panics.

use std::path::{Path, PathBuf};

use sim_core::condition::{
    Addr, AddrValue, CmpOp, Condition, EntryTest, Lock, Operand, Pred, Quantifier, Scope,
    ThreadRef, ThreadTest, Value,
};
use sim_core::kernel::{Historical, Kernel, Mutation, Version};
use sim_core::litmus::{self, load_any, parse, print, ParseError};
use sim_core::num::{Hex, Prot};
use sim_core::ops::access::{Read, Write};
use sim_core::ops::migrate::Migrate;
use sim_core::ops::split_huge_pmd::SplitHugePmd;
use sim_core::ops::{Kind, OpSpec, REGISTRY};
use sim_core::scenario::{
    Expectation, NamedSchedule, PageSpec, Steps, ThreadJson, TlbSpec, VmaSpec,
};
use sim_core::Scenario;

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/scenarios")
}

fn roundtrip(sc: &Scenario, what: &str) {
    let text = print(sc);
    let back = parse(&text).unwrap_or_else(|e| panic!("{what}: {e}\n{text}"));
    assert_eq!(&back, sc, "{what}: parse(print(sc)) != sc\n{text}");
    assert_eq!(print(&back), text, "{what}: printing is not stable");
}

#[test]
fn every_shipped_scenario_roundtrips() {
    assert!(!sim_core::library::SCENARIOS.is_empty());
    for (path, json) in sim_core::library::SCENARIOS {
        let sc = Scenario::from_json(json).unwrap_or_else(|e| panic!("{path}: {e}"));
        roundtrip(&sc, path);
        // And the text is a valid scenario in its own right.
        let via_text = load_any(&print(&sc)).unwrap();
        via_text.build().unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(load_any(json).unwrap(), sc);
        // Windows line endings read the same.
        assert_eq!(
            parse(&print(&sc).replace('\n', "\r\n")).unwrap(),
            sc,
            "{path}"
        );
    }
}

/// Without `MMRACE_BLESS`: each committed `<name>.litmus` is exactly `print` of its JSON twin
/// and parses to the same scenario, and no `.litmus` file lacks a twin. With it: rewrite them.
#[test]
fn committed_litmus_files_match_their_json() {
    let bless = std::env::var_os("MMRACE_BLESS").is_some_and(|v| !v.is_empty() && v != "0");
    let root = assets();
    let mut problems = Vec::new();
    for (path, json) in sim_core::library::SCENARIOS {
        let sc = Scenario::from_json(json).unwrap();
        let lit = root.join(path.strip_suffix(".json").unwrap().to_string() + ".litmus");
        let want = print(&sc);
        if bless {
            if std::fs::read_to_string(&lit).ok().as_deref() != Some(want.as_str()) {
                std::fs::write(&lit, &want).unwrap();
            }
            continue;
        }
        match std::fs::read_to_string(&lit) {
            Err(e) => problems.push(format!("{}: {e}", lit.display())),
            Ok(have) => {
                if have != want {
                    problems.push(format!("{}: differs from print(JSON)", lit.display()));
                }
                match parse(&have) {
                    Ok(p) if p == sc => {}
                    Ok(_) => {
                        problems.push(format!("{}: parses to a different scenario", lit.display()))
                    }
                    Err(e) => problems.push(format!("{}:{e}", lit.display())),
                }
            }
        }
    }
    // Stale files: every .litmus has a JSON twin.
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "litmus") {
                out.push(p);
            }
        }
    }
    let mut lits = Vec::new();
    walk(&root, &mut lits);
    for l in lits {
        if !l.with_extension("json").exists() {
            problems.push(format!("{}: no JSON twin (stale?)", l.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "{}\nregenerate with: MMRACE_BLESS=1 cargo test -p sim-core --test litmus",
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// Random scenarios (fixed-seed splitmix64; no proptest)
// ---------------------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    fn u64(&mut self) -> u64 {
        match self.below(5) {
            0 => 0,
            1 => self.below(16),
            2 => 0x7f00_0000_0000 + self.below(0x400) * 0x1000,
            3 => u64::MAX - self.below(3),
            _ => self.next(),
        }
    }
    fn hex(&mut self) -> Hex {
        Hex(self.u64())
    }
    fn count(&mut self) -> usize {
        match self.below(4) {
            0 => 0,
            1 | 2 => self.below(10) as usize,
            _ => self.u64() as usize,
        }
    }
    fn string(&mut self) -> String {
        const PIECES: &[&str] = &[
            "a",
            "mprotect",
            " ",
            "  ",
            "\"",
            "\\",
            "#",
            "# not a comment",
            "\n",
            "\t",
            "\r",
            "\u{1}",
            "\u{7f}",
            "é",
            "—",
            "🦀",
            "{",
            "}",
            "[",
            "]",
            "=",
            ";",
            "->",
            "0x6 1*",
            "'",
            "\\u0041",
            "/",
            "PROT_READ",
            "\u{2028}",
            "\u{feff}",
        ];
        let n = self.below(6);
        (0..n).map(|_| *self.pick(PIECES)).collect()
    }
    fn word_or_string(&mut self, words: &[&str]) -> String {
        if self.chance(70) {
            self.pick(words).to_string()
        } else {
            self.string()
        }
    }
}

fn random_page(r: &mut Rng) -> PageSpec {
    PageSpec {
        addr: r.hex(),
        pfn: r.hex(),
        writable: r.chance(70),
        young: r.chance(70),
        dirty: r.chance(70),
        exclusive: r.chance(70),
        data: if r.chance(50) { Hex(0) } else { r.hex() },
    }
}

/// Any registered operation, with random field values.
fn random_op(r: &mut Rng) -> OpSpec {
    let info = r.pick(REGISTRY);
    let values: Vec<u64> = info
        .fields
        .iter()
        .map(|f| match f.kind {
            Kind::Number => r.hex().0,
            Kind::Prot => r.below(8),
        })
        .collect();
    OpSpec::from_values(info.name, &values).unwrap()
}

fn random_steps(r: &mut Rng) -> Steps {
    if r.chance(40) {
        return Steps::List((0..r.below(12)).map(|_| r.count()).collect());
    }
    if r.chance(60) {
        const TOKENS: &[&str] = &["0", "1", "2*", "0x6", "1x12", "T1", "t0*", "7", "zz"];
        let n = 1 + r.below(6);
        let toks: Vec<&str> = (0..n).map(|_| *r.pick(TOKENS)).collect();
        return Steps::Compact(toks.join(" "));
    }
    const ODD: &[&str] = &["", " 0", "0 ", "0  1", "0,1", "0\t1", "0 # 1", "0;1", "[0]"];
    Steps::Compact(if r.chance(50) {
        r.pick(ODD).to_string()
    } else {
        r.string()
    })
}

fn random_scenario(r: &mut Rng) -> Scenario {
    let n = |r: &mut Rng, max: u64| r.below(max + 1) as usize;
    Scenario {
        format: if r.chance(80) { 1 } else { r.next() as u32 },
        title: if r.chance(20) {
            String::new()
        } else {
            r.string()
        },
        description: if r.chance(50) {
            String::new()
        } else {
            r.string()
        },
        kernel: Kernel {
            version: if r.chance(50) {
                Version::V6_3
            } else {
                Version::V6_4
            },
            what_if: (0..n(r, 3)).map(|_| *r.pick(&Mutation::ALL)).collect(),
            historical: (0..n(r, 2)).map(|_| *r.pick(&Historical::ALL)).collect(),
        },
        cpus: if r.chance(30) { 1 } else { r.count() },
        vmas: (0..n(r, 3))
            .map(|_| VmaSpec {
                start: r.hex(),
                end: r.hex(),
                prot: Prot(r.below(8) as u32),
                flags: (0..n(r, 3))
                    .map(|_| {
                        r.word_or_string(&[
                            "VM_HUGEPAGE",
                            "VM_NOHUGEPAGE",
                            "VM_FOO",
                            "no-anon-vma",
                            "x.y",
                            "_",
                        ])
                    })
                    .collect(),
                anon_vma: r.chance(70),
            })
            .collect(),
        pages: (0..n(r, 3)).map(|_| random_page(r)).collect(),
        thps: (0..n(r, 2)).map(|_| random_page(r)).collect(),
        tlb: (0..n(r, 2))
            .map(|_| TlbSpec {
                cpu: r.count(),
                addr: r.hex(),
            })
            .collect(),
        alloc_pfns: (0..[0, 1, 3, 8, 9, 20][r.below(6) as usize])
            .map(|_| r.hex())
            .collect(),
        threads: (0..n(r, 3))
            .map(|_| ThreadJson {
                name: r.word_or_string(&["mprotect", "migrate", "", "a b"]),
                cpu: if r.chance(40) { 0 } else { r.count() },
                ops: (0..n(r, 4)).map(|_| random_op(r)).collect(),
            })
            .collect(),
        schedules: (0..n(r, 3))
            .map(|_| NamedSchedule {
                name: r.word_or_string(&["counterexample", "", "x"]),
                description: if r.chance(50) {
                    String::new()
                } else {
                    r.string()
                },
                steps: random_steps(r),
                expect: match r.below(3) {
                    0 => None,
                    1 => Some(Expectation::Safe),
                    _ => Some(Expectation::Violates {
                        invariant: r.word_or_string(&[
                            "writable-pte-in-readonly-vma",
                            "at",
                            "safe",
                            "a.b_c",
                            "9lives",
                            "",
                        ]),
                        at_step: if r.chance(50) { None } else { Some(r.count()) },
                    }),
                },
                notes: (0..n(r, 3))
                    .map(|_| (r.count(), r.string()))
                    .collect::<sim_core::vec_map::VecMap<_, _>>(),
            })
            .collect(),
        condition: if r.chance(40) {
            None
        } else {
            Some(random_condition(r))
        },
    }
}

fn random_condition(r: &mut Rng) -> Condition {
    Condition {
        quantifier: *r.pick(&[
            Quantifier::Exists,
            Quantifier::NotExists,
            Quantifier::Forall,
        ]),
        scope: *r.pick(&[Scope::Final, Scope::Any]),
        predicate: random_pred(r, 0, None),
    }
}

fn random_addr(r: &mut Rng, var: Option<&str>) -> Addr {
    match var {
        Some(v) if r.chance(60) => Addr::Var(v.into(), if r.chance(50) { 0 } else { r.u64() }),
        _ => Addr::Num(r.u64()),
    }
}

fn random_thread(r: &mut Rng) -> ThreadRef {
    ThreadRef(r.word_or_string(&["mprotect", "T0", "T7", "a-b.c", "true", "some"]))
}

fn random_pred(r: &mut Rng, depth: usize, var: Option<&str>) -> Pred {
    let leaf = depth >= 4 || r.chance(45);
    if !leaf {
        return match r.below(4) {
            0 => Pred::Not(Box::new(random_pred(r, depth + 1, var))),
            1 => Pred::And(
                (0..2 + r.below(3))
                    .map(|_| random_pred(r, depth + 1, var))
                    .collect(),
            ),
            2 => Pred::Or(
                (0..2 + r.below(3))
                    .map(|_| random_pred(r, depth + 1, var))
                    .collect(),
            ),
            _ if var.is_none() => {
                let v = r.pick(&["p", "page", "x_1"]).to_string();
                let start = r.below(1 << 20) * 0x1000;
                Pred::Pages {
                    every: r.chance(50),
                    body: Box::new(random_pred(r, depth + 1, Some(&v))),
                    var: v,
                    start,
                    end: start + (1 + r.below(1024)) * 0x1000,
                }
            }
            _ => Pred::Not(Box::new(random_pred(r, depth + 1, var))),
        };
    }
    let lock = |r: &mut Rng| match r.below(4) {
        0 => Lock::MmapLock,
        1 => Lock::Ptl(random_addr(r, var)),
        2 => Lock::PmdLock(random_addr(r, var)),
        _ => Lock::Folio(r.u64()),
    };
    match r.below(10) {
        0 => r.pick(&[Pred::True, Pred::False]).clone(),
        1 => Pred::Thread(
            random_thread(r),
            *r.pick(&[
                ThreadTest::Returned,
                ThreadTest::Killed,
                ThreadTest::Blocked,
            ]),
        ),
        2 => Pred::Holds(random_thread(r), lock(r)),
        3 => Pred::Locked(lock(r)),
        4 => Pred::Violated(r.pick(sim_core::invariants::ALL).id.to_string()),
        5 => Pred::Tlb {
            writable: r.chance(50),
            cpu: r.u64(),
            addr: random_addr(r, var),
        },
        6 | 7 => Pred::Entry(*r.pick(EntryTest::ALL), random_addr(r, var)),
        _ => {
            let value = match r.below(3) {
                0 => Value::At(*r.pick(AddrValue::ALL), random_addr(r, var)),
                1 => Value::Data(r.u64()),
                _ => Value::Result(random_thread(r), r.u64()),
            };
            let op = *r.pick(&[CmpOp::Eq, CmpOp::Ne, CmpOp::AnyBits]);
            let rhs = if r.chance(60) {
                Operand::Num {
                    negative: r.chance(30),
                    value: r.u64(),
                }
            } else {
                Operand::Names(
                    (0..1 + r.below(3))
                        .map(|_| {
                            r.pick(&["VM_WRITE", "_PAGE_RW", "VM_HUGEPAGE", "_PAGE_NX"])
                                .to_string()
                        })
                        .collect(),
                )
            };
            Pred::Cmp(value, op, rhs)
        }
    }
}

#[test]
fn random_scenarios_roundtrip() {
    let mut r = Rng(0x6d6d_7261_6365);
    for i in 0..2000 {
        let sc = random_scenario(&mut r);
        // The generator only makes values JSON can express...
        let json = sc.to_json();
        assert_eq!(Scenario::from_json(&json).unwrap(), sc, "case {i}: JSON");
        // ...and the text format expresses all of them too.
        roundtrip(&sc, &format!("case {i}"));
        assert_eq!(load_any(&json).unwrap(), sc);
        assert_eq!(load_any(&print(&sc)).unwrap(), sc);
    }
}

/// Random edits of valid texts: never a panic, errors point inside the input, and whatever
/// still parses prints back to an equivalent text.
#[test]
fn mutated_texts_never_panic() {
    const SNIPPETS: &[&str] = &[
        "{",
        "}",
        "\"",
        "[",
        "]",
        "=",
        "->",
        "-",
        "+",
        "|",
        "#",
        "\n",
        ";",
        " ",
        "0x",
        "zz",
        "0x1_0000_0000_0000_0000",
        "99999999999999999999999",
        "thread",
        "schedule",
        "expect",
        "note",
        "é",
        "\\u",
        "\\uD800",
        "\\",
        "pfn",
        "ro",
        "data",
        "PROT_EXEC",
        "\u{0}",
        "exists (",
        "forall any (",
        "~exists (true)",
        ")",
        "(",
        "/\\",
        "\\/",
        "~",
        "pte_write(",
        "some p in 0x0-0x1000 (",
    ];
    let mut r = Rng(42);
    let mut texts: Vec<String> = sim_core::library::SCENARIOS
        .iter()
        .map(|(_, j)| print(&Scenario::from_json(j).unwrap()))
        .collect();
    texts.extend((0..20).map(|_| print(&random_scenario(&mut r))));
    let (mut ok, mut bad) = (0, 0);
    for i in 0..3000 {
        let base = &texts[i % texts.len()];
        let mut chars: Vec<char> = base.chars().collect();
        for _ in 0..1 + r.below(3) {
            let at = r.below(chars.len() as u64 + 1) as usize;
            match r.below(3) {
                0 if at < chars.len() => {
                    let end = (at + 1 + r.below(8) as usize).min(chars.len());
                    chars.drain(at..end);
                }
                1 => chars.truncate(at),
                _ => {
                    let s: Vec<char> = r.pick(SNIPPETS).chars().collect();
                    chars.splice(at..at, s);
                }
            }
        }
        let text: String = chars.into_iter().collect();
        match parse(&text) {
            Ok(sc) => {
                ok += 1;
                roundtrip(&sc, &format!("mutant {i}"));
            }
            Err(e) => {
                bad += 1;
                let lines = text.split('\n').count();
                assert!(e.line >= 1 && e.line <= lines, "mutant {i}: {e}\n{text}");
                assert!(e.col >= 1, "mutant {i}: {e}");
                assert!(!e.expected.is_empty() && !e.found.is_empty());
            }
        }
    }
    assert!(ok > 0 && bad > 0, "ok {ok}, bad {bad}");
}

// ---------------------------------------------------------------------------------------
// Hand-written text and errors
// ---------------------------------------------------------------------------------------

const SKETCH: &str = r#"
# What-if (c), by hand.
mmrace v6.4 + restore-from-stale-entry "What-if (c) \u2014 stale entry"   # the title
description "line one\nline two"
cpus 3

vma 0x7f0000000000 - 0x7f0000400000 PROT_READ | PROT_WRITE VM_HUGEPAGE "VM_NOHUGEPAGE" no-anon-vma
page 0x7f0000000000 -> pfn 0x12345 shared ro data 0x11
thp  0x7f0000200000 -> 0x40000 old clean data 4096
tlb cpu 2 caches 0x7f0000000000
alloc 0x30000 0x3_0001
alloc 0x30002

thread "mprotect" on cpu 0 {
  mprotect 0x7f0000000000 0x1000 PROT_READ  # comment
}
thread "migrate" on cpu 1 { migrate 0x7f0000000000 -> 0x23456; split_huge_pmd 0x7f0000200000 }
thread "writer" on cpu 2 {
  read 0x7f0000000000
  write 0x7f0000000000 = 0x42
}
thread "idle" {}

schedule "restore-before-walk" "the description" = 0x6 1* 0* 2*   # compact
  note 4 "narration for step 4"
  expect violates writable-pte-in-readonly-vma at 26
schedule "explicit" = [0, 0, 1
                       2]
  expect safe
schedule "quoted" = "0x6,1*"
"#;

#[test]
fn hand_written_text_parses_as_intended() {
    let sc = parse(SKETCH).unwrap();
    assert_eq!(sc.format, 1);
    assert_eq!(sc.title, "What-if (c) — stale entry");
    assert_eq!(sc.description, "line one\nline two");
    assert_eq!(
        sc.kernel,
        Kernel {
            version: Version::V6_4,
            what_if: vec![Mutation::RestoreFromStaleEntry],
            historical: Vec::new(),
        }
    );
    assert_eq!(sc.cpus, 3);
    assert_eq!(
        sc.vmas,
        vec![VmaSpec {
            start: Hex(0x7f00_0000_0000),
            end: Hex(0x7f00_0040_0000),
            prot: Prot(3),
            flags: vec!["VM_HUGEPAGE".into(), "VM_NOHUGEPAGE".into()],
            anon_vma: false,
        }]
    );
    assert_eq!(
        sc.pages,
        vec![PageSpec {
            addr: Hex(0x7f00_0000_0000),
            pfn: Hex(0x12345),
            writable: false,
            young: true,
            dirty: true,
            exclusive: false,
            data: Hex(0x11),
        }]
    );
    assert_eq!(
        sc.thps,
        vec![PageSpec {
            addr: Hex(0x7f00_0020_0000),
            pfn: Hex(0x40000),
            writable: true,
            young: false,
            dirty: false,
            exclusive: true,
            data: Hex(4096),
        }]
    );
    assert_eq!(
        sc.tlb,
        vec![TlbSpec {
            cpu: 2,
            addr: Hex(0x7f00_0000_0000)
        }]
    );
    assert_eq!(
        sc.alloc_pfns,
        vec![Hex(0x30000), Hex(0x30001), Hex(0x30002)]
    );
    let names: Vec<(&str, usize, usize)> = sc
        .threads
        .iter()
        .map(|t| (t.name.as_str(), t.cpu, t.ops.len()))
        .collect();
    assert_eq!(
        names,
        [
            ("mprotect", 0, 1),
            ("migrate", 1, 2),
            ("writer", 2, 2),
            ("idle", 0, 0)
        ]
    );
    assert_eq!(
        sc.threads[1].ops,
        vec![
            OpSpec::Migrate(Migrate {
                addr: Hex(0x7f00_0000_0000),
                to_pfn: Hex(0x23456)
            }),
            OpSpec::SplitHugePmd(SplitHugePmd {
                addr: Hex(0x7f00_0020_0000)
            })
        ]
    );
    assert_eq!(
        sc.threads[2].ops[1],
        OpSpec::Write(Write {
            addr: Hex(0x7f00_0000_0000),
            value: Hex(0x42)
        })
    );
    let s = &sc.schedules;
    assert_eq!(s.len(), 3);
    assert_eq!(s[0].name, "restore-before-walk");
    assert_eq!(s[0].description, "the description");
    assert_eq!(s[0].steps, Steps::Compact("0x6 1* 0* 2*".into()));
    assert_eq!(
        s[0].notes.get(&4).map(String::as_str),
        Some("narration for step 4")
    );
    assert_eq!(
        s[0].expect,
        Some(Expectation::Violates {
            invariant: "writable-pte-in-readonly-vma".into(),
            at_step: Some(26)
        })
    );
    assert_eq!(s[1].steps, Steps::List(vec![0, 0, 1, 2]));
    assert_eq!(s[1].expect, Some(Expectation::Safe));
    assert_eq!(s[2].steps, Steps::Compact("0x6,1*".into()));
    assert_eq!(s[2].expect, None);
    roundtrip(&sc, "sketch");
}

#[test]
fn minimal_text_gets_the_json_defaults() {
    let text = "mmrace v6.3\nvma 0x1000-0x2000 PROT_NONE\nthread \"t\" {\n  read 0x1000\n}\n";
    let sc = parse(text).unwrap();
    let json = r#"{"format": 1, "kernel": {"version": "v6.3"},
        "vmas": [{"start": "0x1000", "end": "0x2000", "prot": "PROT_NONE"}],
        "threads": [{"name": "t", "ops": [{"op": "read", "addr": "0x1000"}]}]}"#;
    assert_eq!(sc, Scenario::from_json(json).unwrap());
    assert_eq!(
        print(&sc),
        "mmrace v6.3\n\nvma 0x1000-0x2000 PROT_NONE\n\nthread \"t\" {\n  read 0x1000\n}\n"
    );
}

fn err(text: &str) -> ParseError {
    match parse(text) {
        Ok(sc) => panic!("parsed: {sc:?}\n{text}"),
        Err(e) => e,
    }
}

const HEAD: &str = "mmrace v6.4\nvma 0x7f0000000000-0x7f0000001000 PROT_READ|PROT_WRITE\n";

#[test]
fn error_display_names_line_column_and_what_was_expected() {
    let e = err(&format!("{HEAD}page zz -> pfn 0x1\n"));
    assert_eq!(e.to_string(), "3:6: expected a hex address, found \"zz\"");
    assert_eq!((e.line, e.col), (3, 6));
    assert_eq!(e.expected, "a hex address");
    assert_eq!(e.found, "\"zz\"");
    // Columns count characters, not bytes.
    let e = err("mmrace v6.4 \"é\" zz\n");
    assert_eq!((e.line, e.col), (1, 17), "{e}");
}

#[test]
fn empty_and_blank_input() {
    for text in ["", "   \n\n# only a comment\n", "\u{feff}"] {
        let e = err(text);
        assert_eq!(e.found, "end of input", "{e}");
        assert!(e.expected.contains("mmrace"), "{e}");
    }
    let e = err("mmrace\n");
    assert_eq!(
        e.to_string(),
        "1:7: expected a kernel version (v6.3 or v6.4), found end of line"
    );
    let e = err("mmrace v6.5\n");
    assert_eq!((e.line, e.col, e.found.as_str()), (1, 8, "\"v6.5\""));
    let e = err("mmrace v6.4 + no-such-what-if\n");
    assert!(e.expected.contains("restore-from-stale-entry"), "{e}");
    // A header alone is a (semantically invalid) scenario.
    let sc = parse("mmrace v6.4").unwrap();
    let be = sc.build().unwrap_err();
    assert_eq!(be.path, "vmas");
}

#[test]
fn unterminated_blocks_and_strings() {
    let e = err(&format!(
        "{HEAD}thread \"t\" on cpu 0 {{\n  read 0x7f0000000000\n"
    ));
    assert_eq!(e.found, "end of input");
    assert!(
        e.expected
            .contains("`}` closing thread \"t\" (opened at 3:21)"),
        "{e}"
    );
    let e = err(&format!("{HEAD}thread \"t {{\n  read 0x7f0000000000\n}}\n"));
    assert_eq!((e.line, e.found.as_str()), (3, "end of line"), "{e}");
    assert!(e.expected.contains("opened at 3:8"), "{e}");
    let e = err("mmrace v6.4 \"title");
    assert_eq!(e.found, "end of input");
    let e = err("mmrace v6.4 \"title\r\nvma");
    assert_eq!(
        (e.line, e.col, e.found.as_str()),
        (1, 19, "end of line"),
        "{e}"
    );
    let e = err(&format!("{HEAD}schedule \"s\" = [0 1\n"));
    assert!(e.expected.contains("`]`"), "{e}");
    assert_eq!(e.found, "end of input");
    let e = err(&format!("{HEAD}description \"bad \\q escape\"\n"));
    assert_eq!((e.line, e.col), (3, 18), "{e}");
    let e = err(&format!("{HEAD}description \"lone \\uD800 surrogate\"\n"));
    assert!(e.expected.contains("low surrogate"), "{e}");
    let e = err(&format!("{HEAD}description \"raw \u{1} control\"\n"));
    assert_eq!(e.found, "\"\\u0001\"", "{e}");
    let e = err(&format!("{HEAD}thread \"t\" {{ read 0x1 }} }}\n"));
    assert_eq!(e.expected, "end of line");
}

#[test]
fn unknown_statements_and_operations() {
    let e = err(&format!("{HEAD}frobnicate 1\n"));
    assert_eq!((e.line, e.col, e.found.as_str()), (3, 1, "\"frobnicate\""));
    assert!(e.expected.starts_with("a statement"), "{e}");
    let e = err(&format!("{HEAD}thread \"t\" {{\n  mmap 0x1000\n}}\n"));
    assert_eq!(
        e.to_string(),
        "4:3: expected an operation (mprotect, migrate, split_huge_pmd, read, write) or `}`, found \"mmap\""
    );
    let e = err(&format!(
        "{HEAD}thread \"t\" {{\n  read 0x1000 0x2000\n}}\n"
    ));
    assert_eq!(
        (e.line, e.col, e.expected.as_str()),
        (4, 15, "end of line or `}`")
    );
    let e = err(&format!("{HEAD}page 0x7f0000000000 -> pfn 0x1 rw\n"));
    assert!(e.expected.starts_with("a page attribute"), "{e}");
    let e = err(&format!("{HEAD}page 0x7f0000000000 -> pfn 0x1 ro ro\n"));
    assert!(e.expected.contains("twice"), "{e}");
    let e = err(&format!("{HEAD}vma 0x0-0x1000 PROT_READ|PROT_WRITTEN\n"));
    assert_eq!(e.found, "\"PROT_WRITTEN\"");
    let e = err(&format!("{HEAD}expect safe\n"));
    assert!(e.expected.contains("`schedule` line before"), "{e}");
    let e = err(&format!(
        "{HEAD}thread \"t\" {{}}\nschedule \"s\" = 0*\n  expect safe\n  expect safe\n"
    ));
    assert_eq!(e.line, 6);
    let e = err(&format!(
        "{HEAD}thread \"t\" {{}}\nschedule \"s\" = 0*\n  note 0 \"a\"\n  note 0 \"b\"\n"
    ));
    assert!(e.expected.contains("one note per step"), "{e}");
    let e = err(&format!("{HEAD}cpus 2\ncpus 3\n"));
    assert!(
        e.expected.contains("second `cpus` (the first is at 3:1)"),
        "{e}"
    );
    let e = err(&format!("{HEAD}schedule \"s\" = 0* ,1\n"));
    assert_eq!(e.found, "\",\"");
    let e = err(&format!("{HEAD}schedule \"s\" =\n"));
    assert_eq!(e.found, "end of line");
}

#[test]
fn historical_variants_in_the_header() {
    let text = "mmrace v6.4 + mprotect-no-flush + historical fork-no-vma-lock + historical dirty-cow \"t\"\nvma 0x1000-0x2000 PROT_NONE\nthread \"t\" {\n  read 0x1000\n}\n";
    let sc = parse(text).unwrap();
    assert_eq!(sc.kernel.what_if, vec![Mutation::MprotectNoFlush]);
    assert_eq!(
        sc.kernel.historical,
        vec![Historical::ForkNoVmaLock, Historical::DirtyCow]
    );
    roundtrip(&sc, "historical header");
    assert!(print(&sc).starts_with(
        "mmrace v6.4 + mprotect-no-flush + historical fork-no-vma-lock + historical dirty-cow \"t\"\n"
    ));
    assert!(
        sc.kernel
            .label()
            .contains("historical dirty-cow (as Linux ≤ 4.8.2 behaved, before 19be0eaffa3a)"),
        "{}",
        sc.kernel.label()
    );
    let e = err("mmrace v6.4 + historical dirty-cat\n");
    assert_eq!((e.line, e.col, e.found.as_str()), (1, 26, "\"dirty-cat\""));
    assert!(
        e.expected.starts_with("a historical variant (dirty-cow, "),
        "{e}"
    );
    let e = err("mmrace v6.4 + historical\n");
    assert!(e.expected.starts_with("a historical variant"), "{e}");
    let e = err("mmrace v6.4 + dirty-cow\n");
    assert!(e.expected.ends_with("or `historical <variant>`"), "{e}");
    // fork-no-vma-lock reverts a v6.4 mechanism; listing a variant twice is refused.
    let sc = parse(
        "mmrace v6.3 + historical fork-no-vma-lock\nvma 0x1000-0x2000 PROT_NONE\nthread \"t\" {}\n",
    )
    .unwrap();
    let e = sc.build().unwrap_err();
    assert_eq!(e.path, "kernel.historical[0]");
    assert!(e.message.contains("needs version v6.4"), "{e}");
    let sc = parse("mmrace v6.4 + historical dirty-cow + historical dirty-cow\nvma 0x1000-0x2000 PROT_NONE\nthread \"t\" {}\n").unwrap();
    assert_eq!(sc.build().unwrap_err().path, "kernel.historical[1]");
}

#[test]
fn bad_and_out_of_range_numbers() {
    let e = err(&format!("{HEAD}alloc 0x1 0xfffffffffffffffff\n"));
    assert_eq!((e.line, e.col), (3, 11));
    assert!(e.expected.contains("fits in 64 bits"), "{e}");
    let e = err(&format!("{HEAD}cpus 99999999999999999999999\n"));
    assert!(e.expected.contains("fits in 64 bits"), "{e}");
    let e = err(&format!("{HEAD}format 0x100000000\n"));
    assert!(e.expected.contains("format version of at most"), "{e}");
    let e = err(&format!("{HEAD}thread \"t\" {{ mprotect 0x0 0x1000 8 }}\n"));
    assert!(e.expected.starts_with("a protection"), "{e}");
    assert_eq!(e.found, "\"8\"");
    for bad in ["0x", "0xg", "12ab", "1.5", "-1"] {
        let e = err(&format!("{HEAD}thread \"t\" {{ read {bad} }}\n"));
        assert_eq!(e.expected, "a hex address", "{bad}: {e}");
        assert_eq!(e.col, 19, "{bad}: {e}");
    }
    // Separators and decimal are fine.
    let sc = parse(&format!(
        "{HEAD}thread \"t\" {{ read 0x7f00_0000_0000; write 4096 = 10 }}\n"
    ))
    .unwrap();
    assert_eq!(
        sc.threads[0].ops,
        vec![
            OpSpec::Read(Read {
                addr: Hex(0x7f00_0000_0000)
            }),
            OpSpec::Write(Write {
                addr: Hex(4096),
                value: Hex(10)
            })
        ]
    );
}

#[test]
fn semantic_errors_come_from_build_with_json_paths() {
    let text = format!("{HEAD}thread \"t\" {{}}\nthread \"t\" {{}}\n");
    let sc = parse(&text).unwrap();
    let e = sc.build().unwrap_err();
    assert_eq!(e.path, "threads[1].name");
    let sc = parse(&format!(
        "{HEAD}vma 0x1000-0x2000 PROT_READ VM_BOGUS\nthread \"t\" {{}}\n"
    ))
    .unwrap();
    assert_eq!(sc.build().unwrap_err().path, "vmas[1].flags[0]");
}

#[test]
fn huge_garbage_and_nested_input() {
    let big = format!("{HEAD}{}", "# padding\n".repeat(30_000));
    assert!(big.len() > litmus::MAX_BYTES);
    let e = err(&big);
    assert_eq!((e.line, e.col), (1, 1));
    assert_eq!(
        e.expected,
        format!("a scenario of at most {} bytes", litmus::MAX_BYTES)
    );
    assert_eq!(load_any(&big).unwrap_err(), e.to_string());
    // Just under the limit is fine.
    let fits = format!("{HEAD}thread \"t\" {{}}\n{}", "#\n".repeat(100_000));
    assert!(fits.len() <= litmus::MAX_BYTES);
    parse(&fits).unwrap();

    let nested = format!("{HEAD}thread \"t\" {}", "{".repeat(200_000));
    let e = err(&nested);
    assert_eq!((e.line, e.col, e.found.as_str()), (3, 13, "\"{\""), "{e}");
    for garbage in [
        "\u{0}\u{1}\u{2}",
        "}}}}}",
        "[[[[[[",
        "mmrace v6.4 ++++",
        "mmrace v6.4\n\"\"\"\"",
        "🦀🦀🦀",
        "mmrace v6.4\nvma 0x0-",
        "mmrace v6.4\nschedule \"s\" = ]",
        &"x".repeat(10_000),
    ] {
        let e = err(garbage);
        assert!(e.found.chars().count() <= 44, "{e}");
    }
    // A long list of steps is data, not nesting.
    let long = format!(
        "{HEAD}thread \"t\" {{}}\nschedule \"s\" = [{}]\n",
        "0 ".repeat(100_000)
    );
    assert_eq!(
        parse(&long).unwrap().schedules[0].steps,
        Steps::List(vec![0; 100_000])
    );
}

#[test]
fn load_any_sniffs_the_format() {
    let (_, json) = sim_core::library::SCENARIOS[0];
    let sc = Scenario::from_json(json).unwrap();
    assert_eq!(load_any(&format!("\n  {json}")).unwrap(), sc);
    assert_eq!(load_any(&print(&sc)).unwrap(), sc);
    let e = load_any("  { \"format\": 1 }").unwrap_err();
    assert!(e.contains("kernel"), "{e}");
    let e = load_any("mmrace v6.4\nbogus").unwrap_err();
    assert!(e.starts_with("2:1: expected a statement"), "{e}");
}

#[test]
fn large_inputs_parse_in_linear_time() {
    let mut text = format!("{HEAD}thread \"t\" {{}}\nschedule \"s\" \"d\" = [0]\n");
    // As many notes as a schedule may have, long enough to fill the size limit.
    let max = sim_core::scenario::limits::MAX_NOTES;
    let pad = "x".repeat((litmus::MAX_BYTES - 200) / max - 40);
    let mut i = 0;
    while i < max {
        text.push_str(&format!("  note {i} \"a \\\"quoted\\\" note {pad}\"\n"));
        i += 1;
    }
    assert!(text.len() > litmus::MAX_BYTES * 9 / 10 && text.len() < litmus::MAX_BYTES);
    let t = std::time::Instant::now();
    let sc = parse(&text).unwrap();
    assert_eq!(sc.schedules[0].notes.len(), i);
    assert_eq!(
        sc.schedules[0].notes[&0],
        format!("a \"quoted\" note {pad}")
    );
    // An error at the very end still reports its position.
    text.push_str("  note 0 \"again\"\n");
    let e = err(&text);
    assert_eq!(e.line, text.matches('\n').count());
    assert!(
        t.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        t.elapsed()
    );
}

/// Notes live in a sorted vector (`VecMap`): a file with more notes than a schedule may have
/// is refused while it is read, at the first note too many, in litmus and in JSON alike, so
/// that thousands of notes out of order (each inserted at the front) cannot cost quadratic
/// time before the scenario's own check.
#[test]
fn too_many_notes_are_refused_while_reading() {
    let text = std::fs::read_to_string(assets().join("mprotect-basic.litmus")).unwrap();
    let max = sim_core::scenario::limits::MAX_NOTES;
    let notes: String = (0..max + 5)
        .rev()
        .map(|k| format!("  note {} \"n\"\n", k + 100))
        .collect();
    let e = parse(&format!("{text}{notes}")).unwrap_err();
    assert!(
        e.to_string().contains(&format!("at most {max} notes")),
        "{e}"
    );

    let json = sim_core::library::get("mprotect-basic.json").unwrap();
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["schedules"][0]["notes"] = serde_json::json!({});
    let text = serde_json::to_string(&v).unwrap();
    let desc: Vec<String> = (0..20_000)
        .rev()
        .map(|k| format!("\"{k}\":\"n\""))
        .collect();
    let text = text.replace("\"notes\":{}", &format!("\"notes\":{{{}}}", desc.join(",")));
    assert!(text.len() < sim_core::scenario::MAX_JSON_BYTES);
    let e = Scenario::from_json(&text).unwrap_err();
    assert!(e.message.contains(&format!("at most {max} notes")), "{e:?}");
    assert!(e.path.starts_with("schedules[0].notes"), "{e:?}");
}

/// The highlighter's vocabulary (`litmus::KEYWORDS`, `litmus::ATTRIBUTES`, the condition's
/// keywords and the registered operations) is the grammar's: every quoted word of the grammar
/// in `src/litmus.rs`'s docs is in it, and every keyword and attribute is in the grammar.
#[test]
fn the_keyword_lists_are_the_grammars_words() {
    let docs = include_str!("../src/litmus.rs");
    let grammar: Vec<&str> = docs
        .lines()
        .skip_while(|l| !l.starts_with("//! file      ="))
        .take_while(|l| !l.starts_with("//! ```"))
        .collect();
    assert!(grammar.len() > 10, "the grammar block moved");
    let mut quoted: Vec<String> = Vec::new();
    for l in &grammar {
        let mut rest = *l;
        while let Some(i) = rest.find('"') {
            let after = &rest[i + 1..];
            let Some(j) = after.find('"') else { break };
            let w = &after[..j];
            if w.starts_with(|c: char| c.is_ascii_lowercase() || c == '~')
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || "~-_".contains(c))
            {
                quoted.push(w.to_string());
            }
            rest = &after[j + 1..];
        }
    }
    let ops: Vec<&str> = sim_core::ops::REGISTRY.iter().map(|r| r.name).collect();
    let known = |w: &str| {
        litmus::KEYWORDS.contains(&w)
            || litmus::ATTRIBUTES.contains(&w)
            || sim_core::condition::KEYWORDS.contains(&w)
            || w == "~exists"
            || ops.contains(&w)
    };
    for w in &quoted {
        assert!(known(w), "the grammar's \"{w}\" is in no keyword list");
    }
    for w in litmus::KEYWORDS.iter().chain(litmus::ATTRIBUTES) {
        assert!(
            quoted.iter().any(|q| q == w),
            "\"{w}\" is listed as a keyword but the grammar does not have it"
        );
    }
}
