//! "Build without typing": the scenario's parts with a remove button each, and a form per
//! kind of part (the operation form derived from the registered operations). Each form
//! becomes one litmus statement, parsed and validated like typed text.

use sim_core::flags;
use sim_core::litmus;
use sim_core::ops::{OpInfo, REGISTRY};
use sim_core::Scenario;

use super::escape_into;

/// A part of the scenario the builder lists and can remove.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Vma(usize),
    Page(usize),
    Thp(usize),
    Tlb(usize),
    Thread(usize),
    /// (thread, operation)
    Op(usize, usize),
}

/// The builder's list: (part, label), in the order the text has them.
pub fn parts(sc: &Scenario) -> Vec<(Part, String)> {
    let mut v = Vec::new();
    for (i, x) in sc.vmas.iter().enumerate() {
        v.push((
            Part::Vma(i),
            format!("vma {}-{} {}", x.start, x.end, flags::prot_name(x.prot.0)),
        ));
    }
    for (i, x) in sc.pages.iter().enumerate() {
        v.push((Part::Page(i), format!("page {} -> pfn {}", x.addr, x.pfn)));
    }
    for (i, x) in sc.thps.iter().enumerate() {
        v.push((Part::Thp(i), format!("thp {} -> pfn {}", x.addr, x.pfn)));
    }
    for (i, x) in sc.tlb.iter().enumerate() {
        v.push((Part::Tlb(i), format!("tlb cpu {} caches {}", x.cpu, x.addr)));
    }
    for (i, t) in sc.threads.iter().enumerate() {
        v.push((
            Part::Thread(i),
            format!("T{i} “{}” on cpu {}", t.name, t.cpu),
        ));
        for (j, op) in t.ops.iter().enumerate() {
            v.push((Part::Op(i, j), format!("  {}", litmus::print_op(op))));
        }
    }
    v
}

impl Part {
    /// The `data-remove` value of its remove button.
    pub fn key(self) -> String {
        match self {
            Part::Vma(i) => format!("vma:{i}"),
            Part::Page(i) => format!("page:{i}"),
            Part::Thp(i) => format!("thp:{i}"),
            Part::Tlb(i) => format!("tlb:{i}"),
            Part::Thread(i) => format!("thread:{i}"),
            Part::Op(t, j) => format!("op:{t}:{j}"),
        }
    }

    pub fn parse(key: &str) -> Option<Part> {
        let mut it = key.split(':');
        let kind = it.next()?;
        let a: usize = it.next()?.parse().ok()?;
        let b: Option<usize> = it.next().and_then(|x| x.parse().ok());
        Some(match (kind, b) {
            ("vma", None) => Part::Vma(a),
            ("page", None) => Part::Page(a),
            ("thp", None) => Part::Thp(a),
            ("tlb", None) => Part::Tlb(a),
            ("thread", None) => Part::Thread(a),
            ("op", Some(b)) => Part::Op(a, b),
            _ => return None,
        })
    }
}

/// The builder's forms (static but for the thread choice). One HTML string, handled by one
/// delegated click listener: far less wasm than a virtual node and a callback per control.
const BUILDER_FORMS: &str = concat!(
    r#"<div class="row">VMA <input id="b-vma-start" type="text" placeholder="start" aria-label="VMA start">"#,
    r#"<input id="b-vma-end" type="text" placeholder="end" aria-label="VMA end">"#,
    r#"<input id="b-vma-prot" type="text" value="PROT_READ|PROT_WRITE" aria-label="VMA protection">"#,
    r#"<button id="b-add-vma" data-add="vma">Add VMA</button></div>"#,
    r#"<div class="row"><select id="b-page-kind" aria-label="page or THP"><option value="page" selected>page</option><option value="thp">THP</option></select>"#,
    r#"<input id="b-page-addr" type="text" placeholder="address" aria-label="page address">"#,
    r#"<input id="b-page-pfn" type="text" placeholder="pfn" aria-label="pfn">"#,
    r#"<input id="b-page-data" type="text" placeholder="data" aria-label="data">"#,
    r#"<button id="b-add-page" data-add="page">Add</button></div>"#,
    r#"<div class="row">TLB <input id="b-tlb-cpu" type="text" placeholder="cpu" aria-label="TLB cpu">"#,
    r#"<input id="b-tlb-addr" type="text" placeholder="address" aria-label="cached address">"#,
    r#"<button id="b-add-tlb" data-add="tlb">Add TLB entry</button></div>"#,
    r#"<div class="row">thread <input id="b-thread-name" type="text" placeholder="name" aria-label="thread name">"#,
    r#"<input id="b-thread-cpu" type="text" value="0" aria-label="thread cpu">"#,
    r#"<button id="b-add-thread" data-add="thread">Add thread</button></div>"#,
);

/// How many field inputs the operation form has: as many as the operation with the most.
pub fn op_form_slots() -> usize {
    REGISTRY.iter().map(|r| r.fields.len()).max().unwrap_or(0)
}

/// The operation form, derived from the registered operations: a choice of operation, then
/// one input per field position (`b-op-0`, `b-op-1`, ...), each saying what it holds for the
/// operations that have it ("length / target pfn / value").
fn builder_op_form(h: &mut String) {
    h.push_str(r#"<select id="b-op-kind" aria-label="operation">"#);
    for (i, r) in REGISTRY.iter().enumerate() {
        let sel = if i == 0 { " selected" } else { "" };
        h.push_str(&format!(r#"<option value="{0}"{sel}>{0}</option>"#, r.name));
    }
    h.push_str("</select>");
    for slot in 0..op_form_slots() {
        let mut labels: Vec<&str> = Vec::new();
        for r in REGISTRY {
            if let Some(f) = r.fields.get(slot) {
                if !labels.contains(&f.label) {
                    labels.push(f.label);
                }
            }
        }
        let placeholder = labels.join(" / ");
        h.push_str(&format!(
            r#"<input id="b-op-{slot}" type="text" placeholder="{placeholder}" aria-label="operation {placeholder}">"#
        ));
    }
    h.push_str(r#"<button id="b-add-op" data-add="op">Add operation</button></div>"#);
}

/// The builder's inner HTML: the parts with their remove buttons, then the forms.
pub fn builder_html(sc: &Scenario) -> String {
    let mut h = String::from("<ul class=\"parts\">");
    for (part, label) in parts(sc) {
        h.push_str("<li><code>");
        escape_into(&mut h, &label);
        h.push_str(&format!(
            "</code><button class=\"remove-part\" data-remove=\"{}\" title=\"Remove\" aria-label=\"Remove\">✕</button></li>",
            part.key()
        ));
    }
    h.push_str("</ul>");
    h.push_str(BUILDER_FORMS);
    h.push_str("<div class=\"row\"><select id=\"b-op-thread\" aria-label=\"thread\">");
    for (i, t) in sc.threads.iter().enumerate() {
        h.push_str(&format!("<option value=\"{i}\">T{i} "));
        escape_into(&mut h, &t.name);
        h.push_str("</option>");
    }
    h.push_str("</select>");
    builder_op_form(&mut h);
    h
}

/// A form field: `name` for the error, `value` as typed. One token of the text format, so
/// nothing typed into a field can add statements.
fn field<'a>(name: &str, value: &'a str) -> Result<&'a str, String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(format!("{name}: fill it in"));
    }
    if let Some(c) = v
        .chars()
        .find(|c| matches!(c, ';' | '#' | '{' | '}' | '"') || c.is_control())
    {
        return Err(format!("{name}: `{c}` is not allowed here"));
    }
    Ok(v)
}

/// What the builder's forms add.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Add {
    Vma {
        start: String,
        end: String,
        prot: String,
    },
    /// A 4 KiB page (`thp: false`) or a PMD-mapped THP.
    Page {
        thp: bool,
        addr: String,
        pfn: String,
        data: String,
    },
    Tlb {
        cpu: String,
        addr: String,
    },
    Thread {
        name: String,
        cpu: String,
    },
    /// `kind` is a registered operation's name; `fields` its field values as typed, in the
    /// order of its fields (extra ones are ignored).
    Op {
        thread: usize,
        kind: String,
        fields: Vec<String>,
    },
}

/// The litmus statement for a form (checked field by field).
fn statement(a: &Add) -> Result<String, String> {
    Ok(match a {
        Add::Vma { start, end, prot } => format!(
            "vma {}-{} {}",
            field("start", start)?,
            field("end", end)?,
            field("protection", prot)?
        ),
        Add::Page {
            thp,
            addr,
            pfn,
            data,
        } => {
            let data = if data.trim().is_empty() {
                "0"
            } else {
                field("data", data)?
            };
            format!(
                "{} {} -> pfn {} data {data}",
                if *thp { "thp" } else { "page" },
                field("address", addr)?,
                field("pfn", pfn)?
            )
        }
        Add::Tlb { cpu, addr } => {
            format!(
                "tlb cpu {} caches {}",
                field("cpu", cpu)?,
                field("address", addr)?
            )
        }
        Add::Thread { name, cpu } => {
            let name = name.trim();
            if name.is_empty() {
                return Err("name: fill it in".into());
            }
            let cpu = if cpu.trim().is_empty() {
                "0"
            } else {
                field("cpu", cpu)?
            };
            format!(
                "thread {} on cpu {cpu} {{\n}}",
                serde_json::to_string(name).unwrap_or_default()
            )
        }
        Add::Op { kind, fields, .. } => {
            let Some(info) = OpInfo::get(kind) else {
                return Err(format!("operation: unknown kind `{kind}`"));
            };
            let mut s = info.name.to_string();
            for (i, f) in info.fields.iter().enumerate() {
                let v = field(f.label, fields.get(i).map_or("", String::as_str))?;
                s.push(' ');
                if !f.lead.is_empty() {
                    s.push_str(f.lead);
                    s.push(' ');
                }
                s.push_str(v);
            }
            s
        }
    })
}

/// Add what a form describes. The fields are read by the litmus parser (so they take what
/// the text takes: `0x1000`, `PROT_READ|PROT_WRITE`, ...) and the result is validated like
/// any scenario; errors name the field.
pub fn add(sc: &Scenario, a: &Add) -> Result<Scenario, String> {
    let stmt = statement(a)?;
    let mut next = match a {
        Add::Op { thread, .. } => {
            let t = *thread;
            if t >= sc.threads.len() {
                return Err(format!("thread: there is no thread {t}"));
            }
            let tiny = format!("mmrace v6.4\nthread \"t\" {{\n{stmt}\n}}");
            let op = litmus::parse(&tiny)
                .map_err(|e| {
                    format!(
                        "`{stmt}`: column {}: expected {}, found {}",
                        e.col, e.expected, e.found
                    )
                })?
                .threads
                .remove(0)
                .ops
                .remove(0);
            let mut next = sc.clone();
            next.threads[t].ops.push(op);
            next
        }
        _ => {
            let base = litmus::print(sc);
            let base_lines = base.lines().count();
            litmus::parse(&format!("{base}\n{stmt}\n")).map_err(|e| {
                if e.line > base_lines {
                    format!(
                        "`{stmt}`: column {}: expected {}, found {}",
                        e.col, e.expected, e.found
                    )
                } else {
                    e.to_string()
                }
            })?
        }
    };
    // The text form lists things by kind; keep the schedules (a new thread has no steps in
    // them, which is valid).
    next.schedules.clone_from(&sc.schedules);
    next.build().map_err(|e| e.to_string())?;
    Ok(next)
}

/// Remove a part. Removing a thread also removes the schedules, which name threads by
/// index; removing anything else keeps those that are still valid.
pub fn remove(sc: &Scenario, part: Part) -> Result<Scenario, String> {
    let mut next = sc.clone();
    let gone = match part {
        Part::Vma(i) => next
            .vmas
            .get(i)
            .is_some()
            .then(|| next.vmas.remove(i))
            .is_some(),
        Part::Page(i) => next
            .pages
            .get(i)
            .is_some()
            .then(|| next.pages.remove(i))
            .is_some(),
        Part::Thp(i) => next
            .thps
            .get(i)
            .is_some()
            .then(|| next.thps.remove(i))
            .is_some(),
        Part::Tlb(i) => next
            .tlb
            .get(i)
            .is_some()
            .then(|| next.tlb.remove(i))
            .is_some(),
        Part::Thread(i) => {
            let ok = i < next.threads.len();
            if ok {
                next.threads.remove(i);
                next.schedules.clear();
            }
            ok
        }
        Part::Op(t, j) => match next.threads.get_mut(t) {
            Some(th) if j < th.ops.len() => {
                th.ops.remove(j);
                true
            }
            _ => false,
        },
    };
    if !gone {
        return Err("that part no longer exists".into());
    }
    // Schedules that no longer replay (an operation removed under them) are dropped.
    let bare = Scenario {
        schedules: Vec::new(),
        ..next.clone()
    };
    if let Ok(m) = bare.build() {
        next.schedules.retain(|s| {
            s.resolve(&m)
                .is_ok_and(|steps| sim_core::scenario::check_schedule(&m, &steps).is_ok())
        });
    }
    next.build().map_err(|e| e.to_string())?;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::super::highlight::{highlight_line, Tok};
    use super::*;
    use crate::state::App;

    /// The builder's operation form and the highlighter are derived from the registered
    /// operations: each one can be chosen, filled in field by field and highlighted.
    #[test]
    fn every_registered_operation_has_a_form_and_is_highlighted() {
        let html = builder_html(&App::default_scenario());
        for info in REGISTRY {
            assert!(
                html.contains(&format!("<option value=\"{}\"", info.name)),
                "{}",
                info.name
            );
            let fields: Vec<String> = info
                .fields
                .iter()
                .map(|f| match f.kind {
                    sim_core::ops::Kind::Number => "0x7f0000001000".to_string(),
                    sim_core::ops::Kind::Prot => "PROT_READ".to_string(),
                })
                .collect();
            let stmt = statement(&Add::Op {
                thread: 0,
                kind: info.name.into(),
                fields,
            })
            .unwrap();
            let sc = litmus::parse(&format!("mmrace v6.4\nthread \"t\" {{\n{stmt}\n}}")).unwrap();
            assert_eq!(sc.threads[0].ops[0].name(), info.name, "{stmt}");
            let toks = highlight_line(&stmt);
            assert_eq!(toks[0], (Tok::Op, info.name), "{stmt}");
            for f in info.fields {
                for w in f
                    .lead
                    .split_whitespace()
                    .filter(|w| w.starts_with(char::is_alphabetic))
                {
                    assert!(toks.contains(&(Tok::Keyword, w)), "{stmt}: {toks:?}");
                }
                assert!(
                    html.contains(f.label),
                    "{}: no input for {}",
                    info.name,
                    f.label
                );
            }
            let missing = statement(&Add::Op {
                thread: 0,
                kind: info.name.into(),
                fields: Vec::new(),
            })
            .unwrap_err();
            assert_eq!(missing, format!("{}: fill it in", info.fields[0].label));
        }
    }

    #[test]
    fn the_builder_adds_and_removes_parts_and_names_the_bad_field() {
        let sc = App::default_scenario();
        let v = add(
            &sc,
            &Add::Vma {
                start: "0x7f0000100000".into(),
                end: "0x7f0000102000".into(),
                prot: "PROT_READ|PROT_WRITE".into(),
            },
        )
        .unwrap();
        assert_eq!(v.vmas.len(), sc.vmas.len() + 1);
        assert_eq!(v.schedules, sc.schedules);
        let p = add(
            &v,
            &Add::Page {
                thp: false,
                addr: "0x7f0000100000".into(),
                pfn: "0x50000".into(),
                data: "".into(),
            },
        )
        .unwrap();
        assert_eq!(p.pages.len(), sc.pages.len() + 1);
        let t = add(
            &p,
            &Add::Thread {
                name: "reader".into(),
                cpu: "1".into(),
            },
        )
        .unwrap();
        let n = t.threads.len() - 1;
        let o = add(
            &t,
            &Add::Op {
                thread: n,
                kind: "read".into(),
                fields: vec!["0x7f0000100000".into()],
            },
        )
        .unwrap();
        assert_eq!(o.threads[n].ops.len(), 1);
        assert!(
            litmus::print(&o).contains("thread \"reader\" on cpu 1 {\n  read 0x7f0000100000\n}")
        );
        // Bad input: errors name the field or the statement.
        let e = add(
            &sc,
            &Add::Vma {
                start: "".into(),
                end: "1".into(),
                prot: "1".into(),
            },
        )
        .unwrap_err();
        assert!(e.starts_with("start:"), "{e}");
        let e = add(
            &sc,
            &Add::Vma {
                start: "0x1000; cpus 3".into(),
                end: "1".into(),
                prot: "1".into(),
            },
        )
        .unwrap_err();
        assert!(e.starts_with("start: `;`"), "{e}");
        let e = add(
            &sc,
            &Add::Vma {
                start: "0x7f0000100000".into(),
                end: "zz".into(),
                prot: "PROT_READ".into(),
            },
        )
        .unwrap_err();
        assert!(e.contains("found \"zz\""), "{e}");
        let e = add(
            &sc,
            &Add::Page {
                thp: false,
                addr: "0x1000".into(),
                pfn: "0x50000".into(),
                data: "".into(),
            },
        )
        .unwrap_err();
        assert!(e.starts_with("pages[2]"), "a page outside any VMA: {e}");
        let e = add(
            &t,
            &Add::Op {
                thread: 9,
                kind: "read".into(),
                fields: vec!["0x1".into()],
            },
        )
        .unwrap_err();
        assert!(e.starts_with("thread:"), "{e}");
        // Removing: the op, then the thread (and with it the schedules).
        let r = remove(&o, Part::Op(n, 0)).unwrap();
        assert!(r.threads[n].ops.is_empty());
        let r = remove(&r, Part::Thread(n)).unwrap();
        assert_eq!(r.threads.len(), n);
        assert!(r.schedules.is_empty());
        assert!(remove(&r, Part::Vma(99)).is_err());
        // Removing the page a schedule's steps need keeps the scenario valid or says why.
        assert!(parts(&o)
            .iter()
            .any(|(p, l)| *p == Part::Op(n, 0) && l.contains("read 0x7f0000100000")));
    }

    #[test]
    fn builder_html_lists_parts_with_keys_that_parse_back() {
        let mut sc = App::default_scenario();
        sc.threads[0].name = "<i>".into();
        let h = builder_html(&sc);
        for (p, _) in parts(&sc) {
            assert!(h.contains(&format!("data-remove=\"{}\"", p.key())), "{h}");
            assert_eq!(Part::parse(&p.key()), Some(p));
        }
        assert!(h.contains("T0 &lt;i&gt;</option>") && !h.contains("<i>"));
        assert_eq!(Part::parse("op:1"), None);
        assert_eq!(Part::parse("vma:x"), None);
    }
}
