//! The panels: each a pure function of the view (the machine on screen and the record of the
//! step that led to it, for highlighting what changed). Colour is never the only signal:
//! every state also reads as text.

use std::rc::Rc;

use sim_core::flags::{decode_vm_flags, VM_EXEC, VM_READ, VM_WRITE};
use sim_core::invariants;
use sim_core::machine::Status;
use sim_core::ops::listing;
use sim_core::pte::{self, Level};
use sim_core::record::{Change, LineRef, LockEvent, StepRecord, When};
use sim_core::state::{LockId, RwMode, TlbEntry};
use sim_core::{Kernel, Machine};
use yew::prelude::*;

use crate::state::{App as AppState, View};

// ------------------------------------------------------------------------------ what changed

/// What changed in the last step, with old values, as small lists the panels can test. A step
/// changes a handful of things, so linear lists are as fast as maps here — and they keep the
/// wasm free of a B-tree instantiation per key type (every `BTreeMap<K, V>` brings its own
/// insert/search/drop code).
#[derive(Default)]
pub struct Changed {
    /// PTE (table pfn, index) → its old value (the first one, if written twice).
    pub ptes: Firsts<(u64, u16), u64>,
    pub filled: Vec<u64>,
    pub pmds: Firsts<u64, u64>,
    pub vm_flags: Firsts<u32, u64>,
    pub vm_page_prot: Firsts<u32, u64>,
    pub vma_bounds: Vec<u32>,
    pub tlb: Firsts<(usize, u64), Option<TlbEntry>>,
    /// Folio field changes by the pfn they name (head or subpage).
    pub folios: Vec<(u64, &'static str)>,
    /// Lock events, in order, by lock.
    pub locks: Vec<(LockId, String)>,
    pub counters: Vec<&'static str>,
}

/// Key → value pairs keeping the first value per key.
pub struct Firsts<K, V>(Vec<(K, V)>);

impl<K, V> Default for Firsts<K, V> {
    fn default() -> Self {
        Firsts(Vec::new())
    }
}

impl<K: PartialEq, V> Firsts<K, V> {
    fn put(&mut self, k: K, v: V) {
        if !self.contains_key(&k) {
            self.0.push((k, v));
        }
    }

    pub fn get(&self, k: &K) -> Option<&V> {
        self.0.iter().find(|(x, _)| x == k).map(|(_, v)| v)
    }

    pub fn contains_key(&self, k: &K) -> bool {
        self.0.iter().any(|(x, _)| x == k)
    }

    pub fn iter(&self) -> impl Iterator<Item = &(K, V)> {
        self.0.iter()
    }
}

impl Changed {
    pub fn of(m: &Machine, last: Option<&StepRecord>) -> Changed {
        let mut c = Changed::default();
        let Some(r) = last else { return c };
        for ch in &r.changes {
            match ch {
                Change::Pte {
                    table_pfn,
                    index,
                    old,
                    ..
                } => c.ptes.put((*table_pfn, *index), *old),
                Change::TableFilled { table_pfn, .. } => c.filled.push(*table_pfn),
                Change::Pmd { addr, old, .. } => c.pmds.put(*addr, *old),
                Change::VmFlags { vma, old, .. } => c.vm_flags.put(*vma, *old),
                Change::VmPageProt { vma, old, .. } => c.vm_page_prot.put(*vma, *old),
                Change::VmaBounds { vma, .. } => c.vma_bounds.push(*vma),
                Change::Tlb {
                    cpu, vaddr, old, ..
                } => c.tlb.put((*cpu, *vaddr), *old),
                Change::Folio { pfn, field, .. } => c.folios.push((*pfn, field)),
                Change::Data { pfn, .. } => c.folios.push((*pfn, "data")),
                Change::Counter { name, .. } => c.counters.push(name),
            }
        }
        c.locks = r.locks.iter().map(|e| lock_event_text(m, e)).collect();
        c
    }

    /// This step's events on `lock`, joined (`None` if there were none).
    pub fn lock_events(&self, lock: &LockId) -> Option<String> {
        let ev: Vec<&str> = self
            .locks
            .iter()
            .filter(|(l, _)| l == lock)
            .map(|(_, t)| t.as_str())
            .collect();
        (!ev.is_empty()).then(|| ev.join("; "))
    }

    pub fn pte(&self, table: u64, idx: u16) -> bool {
        self.filled.contains(&table) || self.ptes.contains_key(&(table, idx))
    }

    fn folio(&self, head: u64, n: u64) -> Vec<&'static str> {
        self.folios
            .iter()
            .filter(|(pfn, _)| (head..head + n).contains(pfn))
            .map(|(_, f)| *f)
            .collect()
    }
}

fn lock_event_text(m: &Machine, e: &LockEvent) -> (LockId, String) {
    let name = |t: usize| m.thread_name(t).to_string();
    let mode = |md: &Option<RwMode>| match md {
        Some(RwMode::Read) => " (read)",
        Some(RwMode::Write) => " (write)",
        None => "",
    };
    match e {
        LockEvent::Acquired {
            thread,
            lock,
            mode: md,
        } => (*lock, format!("{} acquired{}", name(*thread), mode(md))),
        LockEvent::Released { thread, lock } => (*lock, format!("{} released", name(*thread))),
        LockEvent::Waiting {
            thread,
            lock,
            mode: md,
        } => (
            *lock,
            format!("{} queued and sleeps{}", name(*thread), mode(md)),
        ),
        LockEvent::Woken { thread, lock } => (*lock, format!("{} woken", name(*thread))),
        LockEvent::TryFailed { thread, lock } => {
            (*lock, format!("{}'s trylock failed", name(*thread)))
        }
    }
}

fn lock_event_sentence(m: &Machine, e: &LockEvent) -> String {
    let (lock, text) = lock_event_text(m, e);
    format!("{} — {text}", lock.name())
}

fn cls(base: &'static str, on: bool) -> Classes {
    if on {
        classes!(base, "changed")
    } else {
        classes!(base)
    }
}

/// A thread's name without a leading `T<n> ` (scenarios often name threads that way).
pub fn short_name(name: &str, t: usize) -> &str {
    name.strip_prefix(&format!("T{t} ")).unwrap_or(name)
}

/// `T<n> <name>`, as every panel names a thread.
pub fn tname(m: &Machine, t: usize) -> String {
    format!("T{t} {}", short_name(m.thread_name(t), t))
}

/// The per-thread colour class (lanes, headers); always paired with the thread's name.
pub fn tclass(t: usize) -> String {
    format!("t{}", t % 8)
}

fn hexs(v: u64) -> String {
    format!("{v:#x}")
}

fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes % (1 << 10) == 0 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} B")
    }
}

/// The bit chips of a leaf entry (text and colour: colour is never the only signal).
pub fn chips(raw: u64, level: Level) -> Html {
    html! {
        <span class="chips">
            { for pte::leaf_chips(raw, level).into_iter().map(|c| html! {
                <span class={classes!("chip", if c.on { "on" } else { "off" })}
                      data-bit={c.label} data-on={c.on.to_string()}
                      title={format!("{} = {}", c.name, u8::from(c.on))}>
                    { c.label }
                </span>
            }) }
        </span>
    }
}

/// Decoded form of an entry: chips + pfn for leaves, a description otherwise.
pub fn entry_detail(raw: u64, level: Level) -> Html {
    match pte::classify(raw, level) {
        pte::EntryKind::Present | pte::EntryKind::ProtNone | pte::EntryKind::InvalidatedHuge => {
            let pfn = if level == Level::Pmd {
                pte::pmd_pfn(raw)
            } else {
                pte::pte_pfn(raw)
            };
            let kind = match pte::classify(raw, level) {
                pte::EntryKind::ProtNone => Some("PROT_NONE"),
                pte::EntryKind::InvalidatedHuge => Some("invalidated huge"),
                _ => None,
            };
            html! {
                <>
                    { chips(raw, level) }
                    <span class="pfn">{ format!("pfn {pfn:#x}") }</span>
                    { for kind.map(|k| html! { <span class="kind-tag">{ k }</span> }) }
                </>
            }
        }
        pte::EntryKind::Migration(e) => html! {
            <span class={classes!("desc", "migration", format!("mig-{}", e.kind.name()))}>
                { pte::describe(raw, level) }
            </span>
        },
        pte::EntryKind::None => html! { <span class="desc none">{ "none" }</span> },
        _ => html! { <span class="desc">{ pte::describe(raw, level) }</span> },
    }
}

/// The kernel as shown everywhere: the version, every what-if, labelled hypothetical, and
/// every historical variant with its CVE and fixing commit (a link to it).
pub fn kernel_badges(k: &Kernel) -> Html {
    html! {
        <span class="kernel-badges">
            <span class="kernel" title="the kernel behaviour modelled">{ format!("Linux {}", k.version.name()) }</span>
            { for k.what_if.iter().map(|w| html! {
                <span class="hypothetical" title={w.describe()}>
                    <strong>{ "HYPOTHETICAL " }</strong>
                    { format!("({}) {}", w.letter(), w.id()) }
                    <span class="sr-only">{ format!(": {}", w.describe()) }</span>
                </span>
            }) }
            { for k.historical.iter().map(|h| {
                let fix = h.fix();
                let i = h.info();
                html! {
                    <span class="historical" title={format!("{} — {}", h.describe(), i.summary)}>
                        <strong>{ "HISTORICAL " }</strong>
                        { format!("{}, fixed by ", i.cve.unwrap_or(i.behaves_as)) }
                        <a href={fix.url()} target="_blank" rel="noopener" title={fix.title}>{ fix.hash }</a>
                        <span class="sr-only">{ format!(": {}", h.describe()) }</span>
                    </span>
                }
            }) }
        </span>
    }
}

// ------------------------------------------------------------------------------ narration

pub fn narration(app: &AppState) -> Html {
    let v = &app.view;
    let m = &v.machine;
    let sc = &app.scenario;
    let len = app.schedule.len();
    let stepno = if app.cursor == 0 {
        format!("Step 0 / {len}")
    } else {
        format!("Step {} / {len}", app.cursor)
    };
    let body = match &v.last {
        Some(r) => html! {
            <>
                <div class="step-line">
                    <span class="stepno">{ stepno }</span>
                    <span class={classes!("who", tclass(r.thread))}>{ tname(m, r.thread) }</span>
                    <code class="fn">{ r.func }</code>
                    <span class="file">{ r.file }</span>
                    { for (!r.violations.is_empty()).then(|| html! {
                        <span class="broke">{ format!("✗ breaks: {}", r.violations.join(", ")) }</span>
                    }) }
                    <span class="scenario-title aside" title={sc.title.clone()}>{ sc.title.clone() }</span>
                    <span class="narr-kernel">{ kernel_badges(m.kernel()) }</span>
                </div>
                <p class="explain" id="explanation">{ r.explanation.clone() }</p>
            </>
        },
        None => html! {
            <>
                <div class="step-line">
                    <span class="stepno">{ stepno }</span>
                    <strong class="scenario-title">{ sc.title.clone() }</strong>
                    <span class="narr-kernel">{ kernel_badges(m.kernel()) }</span>
                </div>
                <p class="explain" id="explanation">
                    { sc.description.clone() }
                    { for app.named.as_ref().and_then(|n| sc.schedule(&n.name)).filter(|s| !s.description.is_empty()).map(|s| html! {
                        <span class="sched-desc">{ format!(" Schedule “{}”: {}", s.name, s.description) }</span>
                    }) }
                </p>
                { for m.kernel().what_if.iter().map(|w| html! {
                    <p class="hyp-note"><strong>{ "Hypothetical kernel: " }</strong>{ format!("{} — no real kernel behaves like this.", w.describe().trim_start_matches("hypothetical: ")) }</p>
                }) }
                { for m.kernel().historical.iter().map(|h| html! {
                    <p class="hist-note"><strong>{ "Historical kernel: " }</strong>{ format!("{} ({}). {}", h.describe(), h.badge().trim_start_matches("historical: "), h.info().summary) }</p>
                }) }
            </>
        },
    };
    let note = app.note().map(|n| {
        html! { <p class="note" id="note"><span class="note-label">{ "Note " }</span>{ n.to_string() }</p> }
    });
    html! {
        <section class="narration" id="narration" aria-label="Narration">
            { body }
            { for note }
            { changes_list(m, v.last.as_ref()) }
        </section>
    }
}

/// The last step's diff in words (for the exact reader; hidden in presentation mode).
fn changes_list(m: &Machine, last: Option<&StepRecord>) -> Html {
    let Some(r) = last else { return html! {} };
    let mut items: Vec<String> = Vec::new();
    let mut filled = false;
    for ch in &r.changes {
        let s = match ch {
            Change::VmFlags { vma, old, new } => {
                format!("vma#{vma}.vm_flags {old:#x} → {new:#x}")
            }
            Change::VmPageProt { vma, old, new } => {
                format!(
                    "vma#{vma}.vm_page_prot {} → {}",
                    pte::hex(*old),
                    pte::hex(*new)
                )
            }
            Change::VmaBounds { vma, start, end } => format!("vma#{vma} = {start:#x}–{end:#x}"),
            Change::Pmd { addr, old, new } => {
                format!("PMD {addr:#x}: {} → {}", pte::hex(*old), pte::hex(*new))
            }
            Change::Pte { addr, old, new, .. } => {
                if filled {
                    continue;
                }
                format!("PTE {addr:#x}: {} → {}", pte::hex(*old), pte::hex(*new))
            }
            Change::TableFilled { table_pfn, entries } => {
                filled = true;
                format!("PTE table pfn {table_pfn:#x} filled: {entries} entries")
            }
            Change::Tlb {
                cpu,
                vaddr,
                old,
                new,
            } => match (old, new) {
                (Some(_), None) => format!("CPU {cpu} TLB {vaddr:#x} flushed"),
                (None, Some(e)) => format!(
                    "CPU {cpu} TLB {vaddr:#x} → pfn {:#x} cached{}",
                    e.pfn,
                    if e.writable { " writable" } else { "" }
                ),
                _ => format!("CPU {cpu} TLB {vaddr:#x} updated"),
            },
            Change::Folio {
                pfn,
                field,
                old,
                new,
            } => format!("folio {pfn:#x}.{field} {old} → {new}"),
            Change::Data { pfn, old, new } => format!("page {pfn:#x} data {old:#x} → {new:#x}"),
            Change::Counter { name, old, new } => format!("{name} {old} → {new}"),
        };
        items.push(s);
    }
    items.extend(r.locks.iter().map(|e| lock_event_sentence(m, e)));
    if items.is_empty() {
        return html! { <div class="changes empty">{ "No shared state changed in this step." }</div> };
    }
    let more = items.len().saturating_sub(8);
    html! {
        <ul class="changes" aria-label="Changed in this step">
            { for items.iter().take(8).map(|s| html! { <li>{ s.clone() }</li> }) }
            { for (more > 0).then(|| html! { <li>{ format!("+{more} more") }</li> }) }
        </ul>
    }
}

// ------------------------------------------------------------------------------ threads

#[derive(Properties, PartialEq)]
pub struct ThreadsProps {
    pub app: Rc<AppState>,
    pub on_step: Callback<usize>,
}

#[function_component(Threads)]
pub fn threads(p: &ThreadsProps) -> Html {
    let app = &p.app;
    let m = app.machine();
    let n = m.threads.len();
    let next = app.schedule.get(app.cursor).copied();
    html! {
        <section class={classes!("panel", "threads", format!("n{n}"))} aria-label="Threads">
            { for (0..n).map(|t| thread(app, t, next, p.on_step.clone())) }
        </section>
    }
}

fn thread(app: &AppState, t: usize, next: Option<usize>, on_step: Callback<usize>) -> Html {
    let m = app.machine();
    let last = app.view.last.as_ref();
    let spec = &m.spec.threads[t];
    let th = &m.threads[t];
    let status = m.status(t);
    let (state, chip, reason) = match &status {
        Status::Runnable => ("runnable", "▶ runnable".to_string(), None),
        Status::Blocked { reason, .. } => {
            ("blocked", "⏸ blocked".to_string(), Some(reason.clone()))
        }
        Status::Done => ("done", "✓ done".to_string(), None),
        Status::Killed { addr, code } => (
            "killed",
            "✗ SIGSEGV".to_string(),
            Some(format!("killed by SIGSEGV ({code}) at {addr:#x}")),
        ),
    };
    let runnable = state == "runnable";
    let just_ran = last.is_some_and(|r| r.thread == t);
    let selected = app.selected == Some(t);
    let is_next = next == Some(t);
    let onclick = Callback::from(move |_| on_step.emit(t));
    let title = match (&status, reason.as_ref()) {
        (Status::Runnable, _) => format!("Step {} (T{t})", spec.name),
        (_, Some(r)) => format!("{} cannot step: {r}", spec.name),
        _ => format!("{} has finished", spec.name),
    };
    let pos = m.position(t);
    let k = m.kernel();
    let code = match spec.ops.get(th.op_index) {
        Some(op) if !matches!(status, Status::Done | Status::Killed { .. }) => {
            let lst = op.listing();
            let ran = last.filter(|r| r.thread == t).map(|r| r.line);
            // Not started: the operation's first line is next.
            let frames: Vec<LineRef> = if pos.is_empty() {
                listing(lst)
                    .iter()
                    .position(|l| l.when.applies(k))
                    .map(|i| {
                        vec![LineRef {
                            listing: lst,
                            line: i as u16,
                        }]
                    })
                    .unwrap_or_default()
            } else {
                pos.clone()
            };
            html! { <Code t={t} kernel={k.clone()} {frames} {lst} {ran} /> }
        }
        _ => html! {},
    };
    let wherefn = pos.last().map(|p| {
        let l = p.info();
        html! { <div class="where"><code class="fn">{ l.func }</code><span class="file">{ l.file }</span></div> }
    });
    let mut classes = classes!("thread", tclass(t), format!("st-{state}"));
    if just_ran {
        classes.push("just-ran");
    }
    if selected {
        classes.push("selected");
    }
    html! {
        <article class={classes} data-thread={t.to_string()} data-status={state}>
            <button class="thread-head" onclick={onclick} aria-disabled={(!runnable).to_string()}
                    title={title.clone()} aria-label={title}>
                <span class="tid">{ format!("T{t}") }</span>
                <span class="tname">{ short_name(&spec.name, t).to_string() }</span>
                <span class="cpu">{ format!("CPU {}", spec.cpu) }</span>
                <span class={classes!("status", state)}>{ chip }</span>
                { for is_next.then(|| html! { <span class="next-badge" title="the loaded schedule steps this thread next">{ "next" }</span> }) }
            </button>
            { for reason.map(|r| html! { <div class={classes!("reason", state)} role="note">{ r }</div> }) }
            <ol class="ops">
                { for spec.ops.iter().enumerate().map(|(i, op)| {
                    let st = if i < th.op_index { "finished" } else if i == th.op_index && state != "done" && state != "killed" { "active" } else { "pending" };
                    html! {
                        <li class={classes!("op", st)}>
                            <code>{ op.label() }</code>
                            { for th.results.get(i).map(|r| html! { <span class="result">{ format!(" = {r}") }</span> }) }
                        </li>
                    }
                }) }
            </ol>
            { for wherefn }
            { code }
        </article>
    }
}

#[derive(Properties, PartialEq)]
struct CodeProps {
    t: usize,
    kernel: Kernel,
    frames: Vec<LineRef>,
    lst: sim_core::record::Listing,
    ran: Option<LineRef>,
}

/// A thread's pseudo-code with its current line: a component with comparable props, so that
/// the listings of the threads a step did not move (most of them) are not rebuilt and diffed.
#[function_component(Code)]
fn code(p: &CodeProps) -> Html {
    html! {
        <div class="code" tabindex="0" aria-label={format!("T{} pseudo-code", p.t)}>
            { frame(&p.kernel, &p.frames, 0, p.lst, p.ran) }
        </div>
    }
}

/// One listing frame with the current line marked; deeper frames nest below their caller.
fn frame(
    k: &Kernel,
    frames: &[LineRef],
    depth: usize,
    lst: sim_core::record::Listing,
    ran: Option<LineRef>,
) -> Html {
    let here = frames
        .get(depth)
        .filter(|f| f.listing == lst)
        .map(|f| f.line);
    let innermost = depth + 1 >= frames.len();
    html! {
        <ol class="listing">
            { for listing(lst).iter().enumerate().filter(|(_, l)| l.when.applies(k)).map(|(i, l)| {
                let i = i as u16;
                let cur = here == Some(i);
                let was = ran.is_some_and(|r| r.listing == lst && r.line == i);
                let mut c = classes!("line", format!("indent-{}", l.indent.min(5)));
                if cur { c.push("current"); if !innermost { c.push("caller"); } }
                if was { c.push("ran"); }
                let tag = match l.when {
                    When::WhatIf(_) => Some(("hyp", "hypothetical")),
                    When::V64 => Some(("ver", "v6.4")),
                    When::V63 => Some(("ver", "v6.3")),
                    When::Historical(_) => Some(("hist", "historical")),
                    _ if l.historical_variant().is_some_and(|h| k.was(h)) => Some(("hist", "historical")),
                    _ => None,
                };
                let mark = if cur { "▶" } else if was { "✓" } else { "" };
                html! {
                    <>
                    <li class={c} title={format!("{} — {}\n{}", l.func, l.file, l.text(k))}
                        aria-current={if cur { "step" } else { "false" }}>
                        <span class="mark" aria-hidden="true">{ mark }</span>
                        <code>{ l.text(k) }</code>
                        { for tag.map(|(c, t)| html! { <span class={classes!("ltag", c)}>{ t }</span> }) }
                        { for (cur && innermost).then(|| html! { <span class="sr-only">{ " (next step)" }</span> }) }
                    </li>
                    { for (cur && !innermost).then(|| {
                        let inner = frames[depth + 1];
                        let info = inner.info();
                        html! {
                            <li class="frame">
                                <div class="frame-head">{ "↳ " }<code class="fn">{ info.func }</code><span class="file">{ info.file }</span></div>
                                { frame(k, frames, depth + 1, inner.listing, ran) }
                            </li>
                        }
                    }) }
                    </>
                }
            }) }
        </ol>
    }
}

// ------------------------------------------------------------------------------ VMAs

fn perms(flags: u64) -> String {
    format!(
        "{}{}{}p",
        if flags & VM_READ != 0 { 'r' } else { '-' },
        if flags & VM_WRITE != 0 { 'w' } else { '-' },
        if flags & VM_EXEC != 0 { 'x' } else { '-' }
    )
}

pub fn vmas(m: &Machine, c: &Changed) -> Html {
    let vmas = &m.mm.vmas;
    let lo = vmas.iter().map(|v| v.start).min().unwrap_or(0);
    let hi = vmas.iter().map(|v| v.end).max().unwrap_or(1).max(lo + 1);
    let span = (hi - lo) as f64;
    // Integer SVG units (0..10000): no float formatting in the wasm.
    let x = |a: u64| ((a.clamp(lo, hi) - lo) as f64 / span * 10000.0) as i64;
    let inflight = m.protection_changes_in_flight();
    let v64 = m.kernel().is_v64();
    html! {
        <section class="panel vmas" aria-label="Address space">
            <h2>{ "Address space " }<span class="axis">{ format!("{lo:#x} – {hi:#x}") }</span></h2>
            <svg class="vma-bar" viewBox="0 0 10000 30" preserveAspectRatio="none" role="img"
                 aria-label={format!("{} VMA(s) from {lo:#x} to {hi:#x}", vmas.len())}>
                { for vmas.iter().map(|v| {
                    let p = perms(v.vm_flags);
                    let kind = if v.vm_flags & VM_WRITE != 0 { "rw" } else if v.vm_flags & VM_READ != 0 { "ro" } else { "none" };
                    let w = (x(v.end) - x(v.start)).max(40);
                    html! {
                        <rect class={classes!("seg", kind, if v.split_by_mprotect { "split" } else { "" },
                                              if c.vm_flags.contains_key(&v.id) || c.vma_bounds.contains(&v.id) { "changed" } else { "" })}
                              x={x(v.start).to_string()} y="3" width={(w - 20).to_string()} height="24"
                              vector-effect="non-scaling-stroke">
                            <title>{ format!("vma#{} {:#x}–{:#x} {p}", v.id, v.start, v.end) }</title>
                        </rect>
                    }
                }) }
                { for inflight.iter().map(|&(t, s, e)| html! {
                    <rect class="inflight" x={x(s).to_string()} y="1" width={(x(e) - x(s)).max(20).to_string()} height="28"
                          vector-effect="non-scaling-stroke">
                        <title>{ format!("{}'s mprotect in flight over {s:#x}–{e:#x}", tname(m, t)) }</title>
                    </rect>
                }) }
            </svg>
            { for vmas.iter().map(|v| {
                let fl_old = c.vm_flags.get(&v.id);
                let pp_old = c.vm_page_prot.get(&v.id);
                html! {
                    <div class={classes!("vma", if v.split_by_mprotect { "split" } else { "" })} data-vma={v.id.to_string()}>
                        <div class={cls("vma-head", c.vma_bounds.contains(&v.id))}>
                            <span class="vid">{ format!("vma#{}", v.id) }</span>
                            <code>{ format!("{:#x}–{:#x}", v.start, v.end) }</code>
                            <span class="size">{ size_text(v.end - v.start) }</span>
                            <code class="perms" title="as /proc/PID/maps shows it">{ perms(v.vm_flags) }</code>
                            { for v.split_by_mprotect.then(|| html! { <span class="tag split-tag">{ "split by mprotect" }</span> }) }
                            { for (v64 && v.write_locked).then(|| html! { <span class="tag">{ "VMA write-locked" }</span> }) }
                            { for (!v.anon_vma).then(|| html! { <span class="tag dim">{ "no anon_vma" }</span> }) }
                            { for inflight.iter().filter(|&&(_, s, e)| s < v.end && v.start < e).map(|&(t, s, e)| html! {
                                <span class="tag inflight-tag" title={format!("mprotect range {s:#x}–{e:#x}")}>{ format!("{}'s mprotect in flight", tname(m, t)) }</span>
                            }) }
                        </div>
                        <div class={cls("field vm-flags", fl_old.is_some())}>
                            <span class="label">{ "vm_flags" }</span>
                            <code class="hex">{ format!("{:#010x}", v.vm_flags) }</code>
                            <span class="names" title={decode_vm_flags(v.vm_flags).join(" ")}>{ decode_vm_flags(v.vm_flags).join(" ") }</span>
                            { for fl_old.map(|o| html! { <span class="was">{ format!("was {o:#010x}") }</span> }) }
                        </div>
                        <div class={cls("field vm-page-prot", pp_old.is_some())}>
                            <span class="label">{ "vm_page_prot" }</span>
                            <code class="hex">{ pte::hex(v.vm_page_prot) }</code>
                            { chips(v.vm_page_prot, Level::Pte) }
                            { for pp_old.map(|o| html! { <span class="was">{ format!("was {}", pte::hex(*o)) }</span> }) }
                        </div>
                    </div>
                }
            }) }
        </section>
    }
}

// ------------------------------------------------------------------------------ locks

/// A row of the Locks panel: `sim_core::lock_view`'s rows, worded.
struct LockRow {
    lock: LockId,
    kind: &'static str,
    label: String,
    holder: Option<String>,
    waiters: Vec<String>,
}

pub fn locks(m: &Machine, c: &Changed) -> Html {
    let name = |t: usize| tname(m, t);
    let rows: Vec<LockRow> = sim_core::lock_view::rows(m)
        .into_iter()
        .map(|r| LockRow {
            lock: r.lock,
            kind: match r.lock {
                LockId::MmapLock => "rwsem",
                LockId::VmaLock { .. } => "vma",
                LockId::PmdLock { .. } | LockId::Ptl { .. } => "spin",
                LockId::Folio { .. } => "folio",
            },
            label: r.label(false),
            holder: r.holder_words(name),
            waiters: r.waiter_words(name),
        })
        .collect();
    // Locks released in this step that no longer show (none today, but keep events visible).
    html! {
        <section class="panel locks" aria-label="Locks">
            <h2>{ "Locks" }</h2>
            <table>
                <thead><tr><th>{ "lock" }</th><th>{ "holder" }</th><th>{ "waiting" }</th></tr></thead>
                <tbody>
                { for rows.into_iter().map(|r| {
                    let events = c.lock_events(&r.lock);
                    let contended = !r.waiters.is_empty();
                    let mut cl = classes!("lock", format!("k-{}", r.kind), if r.holder.is_some() { "held" } else { "free" });
                    if contended { cl.push("contended"); }
                    if events.is_some() { cl.push("changed"); }
                    html! {
                        <tr class={cl} data-lock={r.label.clone()}>
                            <td class="lname" title={r.lock.name()}>{ r.label }
                                { for events.map(|ev| html! { <div class="event">{ ev }</div> }) }
                            </td>
                            <td class="holder">{ r.holder.unwrap_or_else(|| "free".into()) }</td>
                            <td class="waiters">
                                { if contended { html! { <><span class="contended-tag">{ "contended: " }</span>{ r.waiters.join(", ") }</> } } else { html! { <span class="dim">{ "—" }</span> } } }
                            </td>
                        </tr>
                    }
                }) }
                </tbody>
            </table>
            <div class={classes!("counters", if c.counters.is_empty() { "" } else { "changed" })}>
                { format!("mm->tlb_flush_pending = {} · tlb_flush_batched = {}", m.mm.tlb_flush_pending, m.mm.tlb_flush_batched) }
            </div>
        </section>
    }
}

// ------------------------------------------------------------------------------ CPUs / TLBs

pub fn tlbs(m: &Machine, c: &Changed) -> Html {
    html! {
        <section class="panel tlbs" aria-label="CPUs and TLBs">
            <h2>{ "CPUs / TLBs" }</h2>
            { for m.cpus.iter().enumerate().map(|(i, cpu)| {
                let on: Vec<String> = m.spec.threads.iter().enumerate().filter(|(_, t)| t.cpu == i).map(|(t, _)| tname(m, t)).collect();
                let gone: Vec<(u64, TlbEntry)> = c.tlb.iter()
                    .filter(|((cc, v), old)| *cc == i && old.is_some() && cpu.tlb.iter().all(|e| e.vaddr != *v))
                    .filter_map(|((_, v), old)| old.map(|o| (*v, o)))
                    .collect();
                html! {
                    <div class="cpu" data-cpu={i.to_string()}>
                        <div class="cpu-head"><strong>{ format!("CPU {i}") }</strong>
                            <span class="dim">{ if on.is_empty() { " idle".to_string() } else { format!(" runs {}", on.join(", ")) } }</span></div>
                        <ul>
                        { for cpu.tlb.iter().map(|e| html! {
                            <li class={cls("tlb", c.tlb.contains_key(&(i, e.vaddr)))}>
                                <code>{ format!("{:#x} → pfn {:#x}", e.vaddr, e.pfn) }</code>
                                <span class={classes!("tlb-rw", if e.writable { "w" } else { "r" })}>{ if e.writable { " writable" } else { " read-only" } }</span>
                                { format!("{}{}", if e.dirty { " D" } else { "" }, if e.huge { " 2M" } else { "" }) }
                            </li>
                        }) }
                        { for gone.iter().map(|(v, o)| html! {
                            <li class="tlb changed gone"><code>{ format!("{v:#x} → pfn {:#x}", o.pfn) }</code>{ " flushed" }</li>
                        }) }
                        { for (cpu.tlb.is_empty() && gone.is_empty()).then(|| html! { <li class="dim">{ "TLB empty" }</li> }) }
                        </ul>
                    </div>
                }
            }) }
        </section>
    }
}

// ------------------------------------------------------------------------------ folios

pub fn folios(m: &Machine, c: &Changed) -> Html {
    html! {
        <section class="panel folios" aria-label="Folios">
            <h2>{ "Folios" }</h2>
            <table>
                <thead><tr>
                    <th>{ "pfn" }</th><th title="PG_locked holder">{ "locked" }</th>
                    <th title="PageAnonExclusive">{ "AnonExcl" }</th>
                    <th title="refcount / mapcount">{ "ref/map" }</th><th>{ "data" }</th>
                </tr></thead>
                <tbody>
                { for m.folios.values().filter(|f| !f.zero_page).map(|f| {
                    let ch = c.folio(f.pfn, f.nr_pages());
                    let ex = f.anon_exclusive.iter().filter(|&&x| x).count();
                    let map = f.mapcount.iter().sum::<i32>() + f.entire_mapcount;
                    let data = if f.order == 0 {
                        format!("{:#x}", f.data[0])
                    } else if f.data.iter().enumerate().all(|(i, &d)| d == f.data[0].wrapping_add(i as u64)) {
                        format!("{:#x}+i", f.data[0])
                    } else {
                        let odd: Vec<String> = f.data.iter().enumerate().filter(|(i, &d)| d != f.data[0].wrapping_add(*i as u64)).take(2).map(|(i, d)| format!("[{i}]={d:#x}")).collect();
                        format!("{:#x}+i, {}", f.data[0], odd.join(" "))
                    };
                    let mut flags = Vec::new();
                    if f.order > 0 { flags.push("THP".to_string()); }
                    if f.freed { flags.push("freed".into()); }
                    if f.isolated { flags.push("isolated".into()); }
                    if f.dirty { flags.push("dirty".into()); }
                    html! {
                        <tr class={classes!("folio", if ch.is_empty() { "" } else { "changed" }, if f.freed { "freed" } else { "" })}
                            data-folio={hexs(f.pfn)} title={if ch.is_empty() { String::new() } else { format!("changed: {}", ch.join(", ")) }}>
                            <td><code>{ hexs(f.pfn) }</code>{ for (!flags.is_empty()).then(|| html! { <span class="dim">{ format!(" {}", flags.join(" ")) }</span> }) }</td>
                            <td class={if f.locked.is_some() { "held" } else { "" }}>
                                { f.locked.map(|t| tname(m, t)).unwrap_or_else(|| "—".into()) }
                                { for (!f.waiters.is_empty()).then(|| html! { <span class="contended-tag">{ format!(" +{} waiting", f.waiters.len()) }</span> }) }
                            </td>
                            <td>{ if f.order == 0 { if ex == 1 { "yes".to_string() } else { "no".to_string() } } else { format!("{ex}/{}", f.nr_pages()) } }</td>
                            <td>{ format!("{}/{map}", f.refcount) }</td>
                            <td><code>{ data }</code></td>
                        </tr>
                    }
                }) }
                </tbody>
            </table>
        </section>
    }
}

// ------------------------------------------------------------------------------ invariants

/// Details shown per invariant (a THP split can make 512 entries tolerated at once).
const MAX_DETAILS: usize = 3;

pub fn invariants(m: &Machine, v: &View) -> Html {
    let violated = v.violated_ids();
    let n_bad = violated.len();
    let n_tol = invariants::ALL
        .iter()
        .filter(|i| !violated.contains(&i.id) && v.inv.tolerated.iter().any(|t| t.id == i.id))
        .count();
    let summary = if n_bad > 0 {
        format!("✗ {n_bad} violated")
    } else if n_tol > 0 {
        "◐ all hold (one tolerated while mprotect is in flight)".to_string()
    } else {
        format!("✓ all {} hold", invariants::ALL.len())
    };
    html! {
        <section class={classes!("panel", "invariants", if n_bad > 0 { "bad" } else { "" })} aria-label="Invariants">
            <h2>{ "Invariants " }<span class={classes!("inv-summary", if n_bad > 0 { "bad" } else if n_tol > 0 { "tol" } else { "ok" })}>{ summary }</span></h2>
            <ul>
            { for invariants::ALL.iter().map(|inv| {
                let mut details: Vec<String> = v.inv.bad.iter().filter(|x| x.id == inv.id).map(|x| x.detail.clone()).collect();
                let is_bad = violated.contains(&inv.id);
                if is_bad && details.is_empty() {
                    if let Some(r) = &v.last {
                        details.push(format!("in this step: {}", r.explanation));
                    }
                }
                let tol: Vec<String> = v.inv.tolerated.iter().filter(|x| x.id == inv.id)
                    .map(|x| format!("{} — tolerated: {}'s mprotect is in flight and will fix it before it returns", x.detail, tname(m, x.by)))
                    .collect();
                let state = if is_bad { "violated" } else if !tol.is_empty() { "tolerated" } else { "ok" };
                let broke = m.broken.get(inv.id);
                let mark = match state { "violated" => "✗", "tolerated" => "◐", _ => "✓" };
                let word = match state { "violated" => "VIOLATED", "tolerated" => "tolerated", _ => "holds" };
                html! {
                    <li class={classes!("invariant", state)} data-invariant={inv.id} data-state={state}>
                        <details open={state != "ok"}>
                            <summary>
                                <span class="mark" aria-hidden="true">{ mark }</span>
                                <span class="name">{ inv.title }</span>
                                <span class="word">{ word }</span>
                                { for broke.map(|s| html! { <span class="at" title="steps count from 1">{ format!("broken at step {}", s + 1) }</span> }) }
                            </summary>
                            { for details.iter().chain(tol.iter()).take(MAX_DETAILS).map(|d| html! { <div class="detail">{ d.clone() }</div> }) }
                            { for (details.len() + tol.len() > MAX_DETAILS).then(|| html! {
                                <div class="detail more">{ format!("… and {} more like these", details.len() + tol.len() - MAX_DETAILS) }</div>
                            }) }
                            <p class="explanation">{ inv.explanation }</p>
                        </details>
                    </li>
                }
            }) }
            </ul>
            { condition(m, &violated) }
        </section>
    }
}

/// The scenario's condition, evaluated in the state on screen. Deciding it needs every
/// interleaving (Explore all); here the reader sees whether this state is one that counts
/// (in scope) and what the predicate says about it.
fn condition(m: &Machine, violated: &[&'static str]) -> Html {
    let Some(c) = &m.spec.condition else {
        return html! {};
    };
    let value = c.holds(&sim_core::condition::Facts {
        machine: m,
        violated,
    });
    let in_scope = c.in_scope(m);
    let scope = match (c.scope, in_scope) {
        (sim_core::condition::Scope::Any, _) => "every state counts",
        (_, true) => "a final state: it counts",
        (_, false) => "not a final state: only states where no thread can step count",
    };
    html! {
        <div class={classes!("condition", if value { "true" } else { "false" })} id="condition"
             data-value={value.to_string()} data-in-scope={in_scope.to_string()}>
            <h3>{ "Condition" }</h3>
            <code class="condition-text">{ c.text.clone() }</code>
            <p>
                <span class="mark" aria-hidden="true">{ if value { "●" } else { "○" } }</span>
                { format!(" Here the predicate is {} ({scope}). ", if value { "TRUE" } else { "false" }) }
                <span class="dim">{ "Explore all (E) decides it over every interleaving." }</span>
            </p>
        </div>
    }
}
