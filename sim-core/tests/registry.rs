//! The operation registration (`sim_core::ops::REGISTRY`) is complete: every registered
//! operation works through every place derived from it — its spec struct agrees with its
//! declared fields, JSON both ways, the JSON Schema, the litmus text both ways and its
//! documented grammar, its listing — and a shipped schedule steps it (so the trace-hash corpus
//! covers it). A new operation that misses one of them fails here, naming what to add.

use sim_core::kernel::Version;
use sim_core::litmus;
use sim_core::ops::{Kind, Listing, OpInfo, OpSpec, REGISTRY};
use sim_core::Scenario;

/// Distinct values for the fields of `info`: numbers that tell the fields apart, and a
/// protection the litmus text and JSON both write by name.
fn sample(info: &OpInfo) -> Vec<u64> {
    info.fields
        .iter()
        .enumerate()
        .map(|(i, f)| match f.kind {
            Kind::Number => 0x7f00_0000_0000 + 0x1111 * (i as u64 + 1),
            Kind::Prot => 3,
        })
        .collect()
}

fn is_snake_word(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A scenario whose one thread runs `op` (for the litmus text round trip).
fn with_op(op: OpSpec) -> Scenario {
    let mut sc =
        Scenario::from_json(sim_core::library::get("mprotect-basic.json").unwrap()).unwrap();
    sc.threads.truncate(1);
    sc.threads[0].ops = vec![op];
    sc.schedules.clear();
    sc.condition = None;
    sc
}

#[test]
fn every_registered_operation_works_through_every_derived_place() {
    let schema = serde_json::to_value(schemars::schema_for!(Scenario)).unwrap();
    let one_of = schema["$defs"]["OpSpec"]["oneOf"].as_array().unwrap();
    assert_eq!(one_of.len(), REGISTRY.len(), "one schema per operation");
    let mut names: Vec<&str> = Vec::new();
    for info in REGISTRY {
        let name = info.name;
        assert!(is_snake_word(name), "`{name}`: a name is a snake_case word");
        assert!(!names.contains(&name), "`{name}` is registered twice");
        names.push(name);
        assert!(
            !info.fields.is_empty()
                && info
                    .fields
                    .iter()
                    .all(|f| is_snake_word(f.name) && !f.label.is_empty()),
            "`{name}`: every field has a snake_case name and a label"
        );

        // The spec struct and the declared fields agree: the struct's fields, in order,
        // hold the values given in the fields' order (Debug names them).
        let values = sample(info);
        let op = OpSpec::from_values(name, &values).unwrap();
        assert_eq!(op.name(), name);
        assert_eq!(op.fields(), info.fields);
        assert_eq!(op.values(), values, "`{name}`: values() and from_values()");
        assert_eq!(op.listing(), info.listing);
        let debug = format!("{op:?}");
        let mut at = 0;
        for (f, v) in info.fields.iter().zip(&values) {
            let shown = match f.kind {
                Kind::Number => format!("{}: Hex({v})", f.name),
                Kind::Prot => format!("{}: Prot({v})", f.name),
            };
            let found = debug[at..].find(&shown).unwrap_or_else(|| {
                panic!(
                    "`{name}`: the struct has no field `{shown}` after the previous one: {debug}"
                )
            });
            at += found + shown.len();
        }
        assert!(OpSpec::from_values(name, &values[1..]).is_none());
        assert!(
            op.label().starts_with(&format!("{name}(")),
            "`{name}`: traces label it `{name}(...)`, not {}",
            op.label()
        );

        // JSON: `op`, then the fields by name; read back the same, in any member order.
        let text = serde_json::to_string(&op).unwrap();
        let mut want = vec!["op"];
        want.extend(info.fields.iter().map(|f| f.name));
        let members: Vec<String> = want
            .iter()
            .map(|k| {
                let v = serde_json::to_value(&op).unwrap()[*k].clone();
                format!("{k:?}:{v}")
            })
            .collect();
        assert_eq!(text, format!("{{{}}}", members.join(",")), "`{name}`: JSON");
        assert!(text.starts_with(&format!("{{\"op\":{name:?}")), "{text}");
        let back: OpSpec = serde_json::from_str(&text).unwrap();
        assert_eq!(back, op);
        let reversed: Vec<String> = members.iter().rev().cloned().collect();
        let back: OpSpec = serde_json::from_str(&format!("{{{}}}", reversed.join(","))).unwrap();
        assert_eq!(back, op, "`{name}`: `op` after the fields");

        // The JSON Schema: an object with `op` and exactly these fields.
        let s = one_of
            .iter()
            .find(|s| s["properties"]["op"]["const"] == name)
            .unwrap_or_else(|| panic!("`{name}` has no schema"));
        assert_eq!(s["required"], serde_json::json!(want), "`{name}`: schema");
        assert_eq!(s["additionalProperties"], false);
        assert_eq!(
            s["properties"].as_object().unwrap().len(),
            want.len(),
            "`{name}`: schema properties"
        );

        // The litmus text, both ways.
        let line = litmus::print_op(&op);
        assert!(line.starts_with(&format!("{name} ")), "{line}");
        let sc = with_op(op.clone());
        let text = litmus::print(&sc);
        assert!(text.contains(&format!("  {line}\n")), "{text}");
        assert_eq!(
            litmus::parse(&text).unwrap(),
            sc,
            "`{name}`: litmus round trip"
        );

        // Its listing exists and names kernel functions and files.
        let lines = info.listing.lines();
        assert!(!lines.is_empty(), "`{name}`: empty listing");
        for (i, l) in lines.iter().enumerate() {
            assert!(
                !l.func.is_empty() && !l.file.is_empty(),
                "`{name}`: line {i} names no function or file"
            );
            for v in [Version::V6_3, Version::V6_4] {
                assert!(
                    !l.text_on(v).trim().is_empty(),
                    "`{name}`: line {i} is empty"
                );
            }
            if l.differs() {
                assert_ne!(l.text_on(Version::V6_3), l.text_on(Version::V6_4));
            }
        }
    }
    for l in Listing::ALL {
        assert!(
            REGISTRY.iter().any(|r| r.listing == *l),
            "listing {} has no operation",
            l.name()
        );
    }
}

/// Every operation is stepped by some shipped scenario's named schedule: it has a scenario,
/// and the determinism test (which pins every shipped schedule's trace hash) covers it.
#[test]
fn every_registered_operation_is_stepped_by_a_shipped_schedule() {
    let mut stepped: Vec<String> = Vec::new();
    for (path, json) in sim_core::library::SCENARIOS {
        let sc = Scenario::from_json(json).unwrap();
        let m = sc.build().unwrap();
        for s in &sc.schedules {
            let steps = s.resolve(&m).unwrap();
            let (_, trace) =
                sim_core::replay(&sc, &steps).unwrap_or_else(|e| panic!("{path}: {e}"));
            stepped.extend(trace.records.into_iter().map(|r| r.op));
        }
    }
    for info in REGISTRY {
        let prefix = format!("{}(", info.name);
        assert!(
            stepped.iter().any(|op| op.starts_with(&prefix)),
            "no shipped schedule steps `{}`: add a scenario to assets/scenarios/ that does \
             (JSON and litmus) and bless the trace hashes",
            info.name
        );
    }
}

/// The litmus grammar in `src/litmus.rs`'s docs spells every operation as its fields do:
/// `"migrate" NUM "->" ["pfn"] NUM     (addr, to_pfn)`.
#[test]
fn the_litmus_grammar_documents_every_operation() {
    let docs = include_str!("../src/litmus.rs");
    for info in REGISTRY {
        let mut g = format!("{:?}", info.name);
        for f in info.fields {
            for piece in f.lead.split_whitespace() {
                if piece.starts_with(|c: char| c.is_ascii_alphabetic()) {
                    g.push_str(&format!(" [{piece:?}]"));
                } else {
                    g.push_str(&format!(" {piece:?}"));
                }
            }
            g.push_str(match f.kind {
                Kind::Number => " NUM",
                Kind::Prot => " prot",
            });
        }
        let fields: Vec<&str> = info.fields.iter().map(|f| f.name).collect();
        let paren = format!("({})", fields.join(", "));
        assert!(
            docs.lines().any(|l| l.starts_with("//! ")
                && l.contains(&format!(" {g} "))
                && l.trim_end().ends_with(&paren)),
            "src/litmus.rs's grammar lacks the line `//!           | {g}    {paren}`"
        );
    }
}

/// A line that differs between the kernels carries each kernel's words separately
/// ([`sim_core::record::Line::v64`]), never both in one text ("v6.3: … / v6.4: …"), and a step
/// record shows the running kernel's.
#[test]
fn listing_lines_hold_one_kernels_words() {
    for l in Listing::ALL {
        for (i, line) in l.lines().iter().enumerate() {
            for v in [Version::V6_3, Version::V6_4] {
                let t = line.text_on(v);
                assert!(
                    !t.contains("v6.3:") && !t.contains("v6.4:") && !t.contains("v6.4]"),
                    "{} line {i} words both kernels: {t}\nwrite it as ln(v6.3's words).v64(v6.4's)",
                    l.name()
                );
            }
        }
    }
    for (name, v) in [
        ("seed-mprotect-vs-migration-v6.3.json", Version::V6_3),
        ("seed-mprotect-vs-migration-v6.4.json", Version::V6_4),
    ] {
        let sc = Scenario::from_json(sim_core::library::get(name).unwrap()).unwrap();
        let steps = sc.schedules[0].resolve(&sc.build().unwrap()).unwrap();
        let (_, trace) = sim_core::replay(&sc, &steps).unwrap();
        let mut differing = 0;
        for r in &trace.records {
            assert_eq!(
                r.line_text,
                r.line.info().text_on(v),
                "{name} step {}",
                r.index
            );
            differing += usize::from(r.line.info().differs());
        }
        assert!(differing > 0, "{name}: no step ran a line that differs");
    }
}

/// What `OpSpec`'s hand-written, field-driven JSON reader stands in for: serde's derived
/// internally tagged enum, written out here for the operations of today (the reader is the
/// same code for every operation, by field kind, so these cover it).
#[derive(serde::Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
enum Derived {
    Mprotect {
        addr: sim_core::num::Hex,
        len: sim_core::num::Hex,
        prot: sim_core::num::Prot,
    },
    Migrate {
        addr: sim_core::num::Hex,
        to_pfn: sim_core::num::Hex,
    },
    SplitHugePmd {
        addr: sim_core::num::Hex,
    },
    Read {
        addr: sim_core::num::Hex,
    },
    Write {
        addr: sim_core::num::Hex,
        value: sim_core::num::Hex,
    },
}

impl Derived {
    fn spec(self) -> OpSpec {
        let (name, v): (&str, Vec<u64>) = match self {
            Derived::Mprotect { addr, len, prot } => {
                ("mprotect", vec![addr.0, len.0, u64::from(prot.0)])
            }
            Derived::Migrate { addr, to_pfn } => ("migrate", vec![addr.0, to_pfn.0]),
            Derived::SplitHugePmd { addr } => ("split_huge_pmd", vec![addr.0]),
            Derived::Read { addr } => ("read", vec![addr.0]),
            Derived::Write { addr, value } => ("write", vec![addr.0, value.0]),
        };
        OpSpec::from_values(name, &v).unwrap()
    }
}

/// `OpSpec`'s reader accepts exactly what serde's derived reader accepts, with the same
/// values, on every one-place change of every shipped operation (a member removed, added,
/// doubled or moved, a value of another kind, another operation's name). The one place they
/// differ by design is not tried: a second `"op"` member (the derived reader refuses it, ours
/// takes the last).
#[test]
fn operations_read_as_serdes_derived_reader_would() {
    let alts = [
        "null",
        "true",
        "-1",
        "7",
        "1.5",
        "\"0xzz\"",
        "\"zz\"",
        "[]",
        "[1]",
        "{}",
        "\"PROT_READ|PROT_WRITE\"",
        "\"0x10000000000000000\"",
        "18446744073709551615",
    ];
    let mut checked = 0;
    for (_, json) in sim_core::library::SCENARIOS {
        let sc = Scenario::from_json(json).unwrap();
        for op in sc.threads.iter().flat_map(|t| &t.ops) {
            let text = serde_json::to_string(op).unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            let members: Vec<(String, String)> = v
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, x)| (k.clone(), x.to_string()))
                .collect();
            let obj = |ms: &[(String, String)]| {
                let inner: Vec<String> = ms.iter().map(|(k, x)| format!("{k:?}:{x}")).collect();
                format!("{{{}}}", inner.join(","))
            };
            let mut tries = Vec::new();
            for i in 0..members.len() {
                let mut less = members.clone();
                less.remove(i);
                tries.push(obj(&less));
                let mut rot = members.clone();
                rot.rotate_left(i);
                tries.push(obj(&rot));
                let mut extra = rot.clone();
                extra.insert(i, ("bogus".into(), "1".into()));
                tries.push(obj(&extra));
                if members[i].0 != "op" {
                    let mut dup = members.clone();
                    dup.push(members[i].clone());
                    tries.push(obj(&dup));
                }
                for a in alts {
                    let mut m = members.clone();
                    m[i].1 = a.to_string();
                    tries.push(obj(&m));
                }
            }
            for name in [
                "mprotect",
                "migrate",
                "split_huge_pmd",
                "read",
                "write",
                "munmap",
            ] {
                let mut m = members.clone();
                for x in m.iter_mut().filter(|x| x.0 == "op") {
                    x.1 = format!("{name:?}");
                }
                tries.push(obj(&m));
            }
            for t in &tries {
                let ours = serde_json::from_str::<OpSpec>(t).ok();
                let derived = serde_json::from_str::<Derived>(t).ok().map(Derived::spec);
                assert_eq!(ours, derived, "{t}");
                checked += 1;
            }
        }
    }
    assert!(checked > 5000, "{checked}");
}
