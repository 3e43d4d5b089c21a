//! The panels: each a pure function of the machine (and the last step's record, for
//! highlighting what changed).

use std::collections::BTreeSet;

use sim_core::flags::decode_vm_flags;
use sim_core::invariants;
use sim_core::machine::Status;
use sim_core::ops::listing;
use sim_core::pte::{self, Level};
use sim_core::record::{Change, StepRecord};
use sim_core::pte::PMD_SHIFT;
use sim_core::state::LockId;
use sim_core::Machine;
use yew::prelude::*;

/// What changed in the last step, as sets the panels can test.
#[derive(Default)]
struct Changed {
    ptes: BTreeSet<(u64, u16)>,
    pmds: BTreeSet<u64>,
    vm_flags: BTreeSet<u32>,
    vm_page_prot: BTreeSet<u32>,
    tlb: BTreeSet<(usize, u64)>,
    folios: BTreeSet<u64>,
}

fn changed(last: Option<&StepRecord>) -> Changed {
    let mut c = Changed::default();
    if let Some(r) = last {
        for ch in &r.changes {
            match ch {
                Change::Pte {
                    table_pfn, index, ..
                } => {
                    c.ptes.insert((*table_pfn, *index));
                }
                Change::TableFilled { table_pfn, entries } => {
                    for i in 0..*entries {
                        c.ptes.insert((*table_pfn, i));
                    }
                }
                Change::Pmd { addr, .. } => {
                    c.pmds.insert(*addr);
                }
                Change::VmFlags { vma, .. } => {
                    c.vm_flags.insert(*vma);
                }
                Change::VmPageProt { vma, .. } => {
                    c.vm_page_prot.insert(*vma);
                }
                Change::VmaBounds { vma, .. } => {
                    c.vm_flags.insert(*vma);
                }
                Change::Tlb { cpu, vaddr, .. } => {
                    c.tlb.insert((*cpu, *vaddr));
                }
                Change::Folio { pfn, .. } | Change::Data { pfn, .. } => {
                    c.folios.insert(*pfn);
                }
                Change::Counter { .. } => {}
            }
        }
    }
    c
}

fn cls(base: &'static str, on: bool) -> Classes {
    if on {
        classes!(base, "changed")
    } else {
        classes!(base)
    }
}

/// The bit chips of a leaf entry (text and colour: colour is never the only signal).
fn chips(raw: u64, level: Level) -> Html {
    html! {
        <span class="chips">
            { for pte::leaf_chips(raw, level).into_iter().map(|c| html! {
                <span class={classes!("chip", if c.on { "on" } else { "off" })}
                      data-bit={c.label} data-on={c.on.to_string()} title={c.name}>
                    { c.label }
                </span>
            }) }
        </span>
    }
}

fn entry_detail(raw: u64, level: Level) -> Html {
    match pte::classify(raw, level) {
        pte::EntryKind::Present | pte::EntryKind::ProtNone | pte::EntryKind::InvalidatedHuge => {
            let pfn = if level == Level::Pmd {
                pte::pmd_pfn(raw)
            } else {
                pte::pte_pfn(raw)
            };
            html! { <>{ chips(raw, level) }<span class="pfn">{ format!("pfn {pfn:#x}") }</span></> }
        }
        _ => html! { <span class="desc">{ pte::describe(raw, level) }</span> },
    }
}

pub fn threads(m: &Machine, last: Option<&StepRecord>, on_step: Callback<usize>) -> Html {
    html! {
        <section class="panel threads" aria-label="Threads">
            { for (0..m.threads.len()).map(|t| thread(m, t, last, on_step.clone())) }
        </section>
    }
}

fn thread(m: &Machine, t: usize, last: Option<&StepRecord>, on_step: Callback<usize>) -> Html {
    let spec = &m.spec.threads[t];
    let th = &m.threads[t];
    let status = m.status(t);
    let (chip, chip_class) = match &status {
        Status::Runnable => ("runnable".to_string(), "runnable"),
        Status::Blocked { reason, .. } => (format!("blocked: {reason}"), "blocked"),
        Status::Done => ("done".to_string(), "done"),
        Status::Killed { code, .. } => (format!("SIGSEGV ({code})"), "killed"),
    };
    let runnable = matches!(status, Status::Runnable);
    let pos = m.position(t);
    let op_index = th.op_index.min(spec.ops.len().saturating_sub(1));
    let current_op = spec.ops.get(op_index);
    let just_ran = last.is_some_and(|r| r.thread == t);
    let onclick = {
        let cb = on_step.clone();
        Callback::from(move |_| cb.emit(t))
    };
    let listing_html = match current_op {
        Some(op) if !matches!(status, Status::Done) => {
            let lst = op.listing();
            let here: BTreeSet<u16> = pos.iter().filter(|p| p.listing == lst).map(|p| p.line).collect();
            let nested: Vec<_> = pos.iter().filter(|p| p.listing != lst).collect();
            let k = m.kernel();
            html! {
                <>
                <ol class="listing">
                    { for listing(lst).iter().enumerate().filter(|(_, l)| l.when.applies(k)).map(|(i, l)| {
                        let cur = here.contains(&(i as u16)) || (th.op.is_none() && i == 0 && th.op_index < spec.ops.len());
                        let ran = just_ran && last.is_some_and(|r| r.line.listing == lst && r.line.line == i as u16);
                        let mut c = classes!("line", format!("indent-{}", l.indent));
                        if cur { c.push("current"); }
                        if ran { c.push("ran"); }
                        html! {
                            <li class={c} title={format!("{} ({})", l.func, l.file)} aria-current={if cur { "step" } else { "false" }}>
                                <span class="marker">{ if cur { "▶" } else { "" } }</span>
                                <code>{ l.text }</code>
                            </li>
                        }
                    }) }
                </ol>
                { for nested.iter().map(|p| {
                    let l = p.info();
                    html! { <div class="nested">{ format!("↳ in {} ({}): ", l.func, l.file) }<code>{ l.text }</code></div> }
                }) }
                </>
            }
        }
        _ => html! {},
    };
    let func = pos
        .last()
        .map(|p| {
            let l = p.info();
            format!("{} — {}", l.func, l.file)
        })
        .unwrap_or_default();
    html! {
        <article class={classes!("thread", if just_ran { "just-ran" } else { "" })} data-thread={t.to_string()}>
            <header>
                <button class="thread-step" onclick={onclick} disabled={!runnable}
                        title={if runnable { "Step this thread".to_string() } else { chip.clone() }}>
                    { format!("{} ▶", spec.name) }
                </button>
                <span class="cpu">{ format!("CPU {}", spec.cpu) }</span>
                <span class={classes!("status", chip_class)} data-status={chip_class}>{ chip }</span>
            </header>
            <div class="ops">
                { for spec.ops.iter().enumerate().map(|(i, op)| html! {
                    <div class={classes!("op", if i == th.op_index { "active" } else if i < th.op_index { "finished" } else { "" })}>
                        <code>{ op.label() }</code>
                        { th.results.get(i).map(|r| html! { <span class="result">{ format!(" = {r}") }</span> }).unwrap_or_default() }
                    </div>
                }) }
            </div>
            <div class="func">{ func }</div>
            { listing_html }
        </article>
    }
}

pub fn vmas(m: &Machine, last: Option<&StepRecord>) -> Html {
    let c = changed(last);
    html! {
        <section class="panel vmas" aria-label="Address space">
            <h2>{ "VMAs" }</h2>
            { for m.mm.vmas.iter().map(|v| html! {
                <div class={classes!("vma", if v.split_by_mprotect { "split" } else { "" })} data-vma={v.id.to_string()}>
                    <div class="range"><code>{ format!("{:#x}–{:#x}", v.start, v.end) }</code>
                        { if v.split_by_mprotect { html!{ <span class="tag">{ "split by mprotect" }</span> } } else { html!{} } }
                        { if v.write_locked { html!{ <span class="tag">{ "VMA write-locked" }</span> } } else { html!{} } }
                    </div>
                    <div class={cls("vm-flags", c.vm_flags.contains(&v.id))}>
                        <span class="label">{ "vm_flags " }</span><code class="hex">{ format!("{:#010x}", v.vm_flags) }</code>
                        <span class="names">{ decode_vm_flags(v.vm_flags).join(" ") }</span>
                    </div>
                    <div class={cls("vm-page-prot", c.vm_page_prot.contains(&v.id))}>
                        <span class="label">{ "vm_page_prot " }</span><code class="hex">{ pte::hex(v.vm_page_prot) }</code>
                        { chips(v.vm_page_prot, Level::Pte) }
                    </div>
                </div>
            }) }
        </section>
    }
}

pub fn page_tables(m: &Machine, last: Option<&StepRecord>) -> Html {
    let c = changed(last);
    html! {
        <section class="panel tables" aria-label="Page tables">
            <h2>{ "Page tables" }</h2>
            { for m.pt.pmds.iter().map(|(&idx, &pmd)| {
                let addr = idx << PMD_SHIFT;
                let is_table = pte::pmd_is_table(pmd);
                html! {
                    <div class="pmd-block">
                        <div class={cls("pmd", c.pmds.contains(&addr))} data-pmd={format!("{addr:#x}")}>
                            <span class="label">{ format!("PMD {addr:#x}") }</span>
                            <code class="hex">{ pte::hex(pmd) }</code>
                            { if is_table { html!{ <span class="desc">{ pte::describe(pmd, Level::Pmd) }</span> } } else { entry_detail(pmd, Level::Pmd) } }
                        </div>
                        { if is_table { pte_table(m, addr, pte::pmd_table_pfn(pmd), &c) } else { html!{} } }
                    </div>
                }
            }) }
        </section>
    }
}

fn pte_table(m: &Machine, base: u64, table: u64, c: &Changed) -> Html {
    let t = m.pt.tables.get(&table);
    let lock = t.and_then(|t| t.ptl);
    // Rows: every slot a VMA covers, plus any populated entry.
    let mut rows: BTreeSet<u16> = t.map(|t| t.entries.keys().copied().collect()).unwrap_or_default();
    for v in &m.mm.vmas {
        let s = v.start.max(base);
        let e = v.end.min(base + pte::PMD_SIZE);
        let mut a = s;
        while a < e {
            rows.insert(((a - base) >> 12) as u16);
            a += pte::PAGE_SIZE;
        }
    }
    html! {
        <table class="pte-table" data-table={format!("{table:#x}")}>
            <caption>
                { format!("PTE table pfn {table:#x}") }
                <span class={classes!("ptl", if lock.is_some() { "held" } else { "free" })}>
                    { match lock { Some(h) => format!("PT lock held by {}", m.thread_name(h)), None => "PT lock free".into() } }
                </span>
            </caption>
            <thead><tr><th>{ "#" }</th><th>{ "address" }</th><th>{ "raw" }</th><th>{ "decoded" }</th></tr></thead>
            <tbody>
            { for rows.iter().map(|&i| {
                let raw = t.map_or(0, |t| t.get(i));
                let addr = base + ((i as u64) << 12);
                html! {
                    <tr class={cls("pte", c.ptes.contains(&(table, i)))} data-pte-index={i.to_string()}>
                        <td class="idx">{ i }</td>
                        <td class="addr"><code>{ format!("{addr:#x}") }</code></td>
                        <td><code class="hex">{ pte::hex(raw) }</code></td>
                        <td class="decoded">{ entry_detail(raw, Level::Pte) }</td>
                    </tr>
                }
            }) }
            </tbody>
        </table>
    }
}

pub fn locks(m: &Machine) -> Html {
    let name = |t: usize| m.thread_name(t).to_string();
    let sem = &m.mm.mmap_lock;
    let holder = if let Some(w) = sem.writer {
        format!("write: {}", name(w))
    } else if !sem.readers.is_empty() {
        format!("read: {}", sem.readers.iter().map(|&t| name(t)).collect::<Vec<_>>().join(", "))
    } else {
        "free".into()
    };
    let waiters: Vec<String> = sem
        .waiters
        .iter()
        .map(|(t, mode)| format!("{} ({mode:?})", name(*t)))
        .collect();
    // Spinning waiters are derived: threads blocked on a lock.
    let blocked_on = |l: LockId| -> Vec<String> {
        (0..m.threads.len())
            .filter(|&t| matches!(m.status(t), Status::Blocked { lock, .. } if lock == l))
            .map(name)
            .collect()
    };
    let mut rows = vec![("mmap_lock".to_string(), holder, waiters)];
    for (&region, &h) in &m.pt.pmd_locks {
        let l = LockId::PmdLock { region };
        rows.push((l.name(), name(h), blocked_on(l)));
    }
    for (&pfn, t) in &m.pt.tables {
        if let Some(h) = t.ptl {
            let l = LockId::Ptl { table_pfn: pfn };
            rows.push((l.name(), name(h), blocked_on(l)));
        }
    }
    for f in m.folios.values() {
        if let Some(h) = f.locked {
            let l = LockId::Folio { pfn: f.pfn };
            rows.push((l.name(), name(h), blocked_on(l)));
        }
    }
    for v in &m.mm.vmas {
        if !v.lock_readers.is_empty() || v.write_locked {
            let l = LockId::VmaLock { vma: v.id };
            let h = if v.write_locked {
                "write-locked (mmap_lock writer)".to_string()
            } else {
                format!("read: {}", v.lock_readers.iter().map(|&t| name(t)).collect::<Vec<_>>().join(", "))
            };
            rows.push((l.name(), h, v.lock_writer_waiting.map(name).into_iter().collect()));
        }
    }
    html! {
        <section class="panel locks" aria-label="Locks">
            <h2>{ "Locks" }</h2>
            <table>
                <thead><tr><th>{ "lock" }</th><th>{ "holder" }</th><th>{ "waiting" }</th></tr></thead>
                <tbody>
                { for rows.into_iter().map(|(l, h, w)| html! {
                    <tr class={classes!("lock", if h == "free" { "free" } else { "held" }, if w.is_empty() { "" } else { "contended" })}>
                        <td>{ l }</td><td>{ h }</td><td>{ w.join(", ") }</td>
                    </tr>
                }) }
                </tbody>
            </table>
            <div class="counters">{ format!("tlb_flush_pending = {} · tlb_flush_batched = {}", m.mm.tlb_flush_pending, m.mm.tlb_flush_batched) }</div>
        </section>
    }
}

pub fn tlbs(m: &Machine, last: Option<&StepRecord>) -> Html {
    let c = changed(last);
    let flushed: Vec<(usize, u64)> = c.tlb.iter().copied().collect();
    html! {
        <section class="panel tlbs" aria-label="CPUs and TLBs">
            <h2>{ "CPUs / TLBs" }</h2>
            { for m.cpus.iter().enumerate().map(|(i, cpu)| html! {
                <div class="cpu" data-cpu={i.to_string()}>
                    <span class="label">{ format!("CPU {i}") }</span>
                    { if cpu.tlb.is_empty() { html!{ <span class="empty">{ " (TLB empty)" }</span> } } else { html!{} } }
                    <ul>
                    { for cpu.tlb.iter().map(|e| html! {
                        <li class={cls("tlb", c.tlb.contains(&(i, e.vaddr)))}>
                            <code>{ format!("{:#x} → pfn {:#x}", e.vaddr, e.pfn) }</code>
                            { format!(" {}{}{}", if e.writable { "RW" } else { "RO" }, if e.dirty { " D" } else { "" }, if e.huge { " 2M" } else { "" }) }
                        </li>
                    }) }
                    { for flushed.iter().filter(|(cc, v)| *cc == i && cpu.lookup(*v).is_none()).map(|(_, v)| html! {
                        <li class="tlb changed gone"><code>{ format!("{v:#x}") }</code>{ " flushed" }</li>
                    }) }
                    </ul>
                </div>
            }) }
        </section>
    }
}

pub fn folios(m: &Machine, last: Option<&StepRecord>) -> Html {
    let c = changed(last);
    html! {
        <section class="panel folios" aria-label="Folios">
            <h2>{ "Folios" }</h2>
            <table>
                <thead><tr><th>{ "pfn" }</th><th>{ "order" }</th><th>{ "locked" }</th><th>{ "AnonExclusive" }</th><th>{ "ref/map" }</th><th>{ "data" }</th></tr></thead>
                <tbody>
                { for m.folios.values().filter(|f| !f.zero_page).map(|f| {
                    let ch = c.folios.iter().any(|&p| f.contains(p));
                    let ex = f.anon_exclusive.iter().filter(|&&x| x).count();
                    html! {
                        <tr class={cls("folio", ch)} data-folio={format!("{:#x}", f.pfn)}>
                            <td><code>{ format!("{:#x}", f.pfn) }</code>{ if f.freed { " (freed)" } else { "" } }</td>
                            <td>{ f.order }</td>
                            <td>{ f.locked.map(|t| m.thread_name(t).to_string()).unwrap_or_else(|| "—".into()) }</td>
                            <td>{ if f.order == 0 { (ex == 1).to_string() } else { format!("{ex}/{}", f.nr_pages()) } }</td>
                            <td>{ format!("{}/{}", f.refcount, f.mapcount.iter().sum::<i32>() + f.entire_mapcount) }</td>
                            <td><code>{ if f.order == 0 { format!("{:#x}", f.data[0]) } else { format!("{:#x}…", f.data[0]) } }</code></td>
                        </tr>
                    }
                }) }
                </tbody>
            </table>
        </section>
    }
}

pub fn invariants(m: &Machine) -> Html {
    let (bad, tolerated) = invariants::check_state(m);
    let end = invariants::check_end(m);
    html! {
        <section class="panel invariants" aria-label="Invariants">
            <h2>{ "Invariants" }</h2>
            <ul>
            { for invariants::ALL.iter().map(|inv| {
                let v: Vec<String> = bad.iter().chain(end.iter()).filter(|v| v.id == inv.id).map(|v| v.detail.clone()).collect();
                let t: Vec<String> = tolerated.iter().filter(|v| v.id == inv.id).map(|v| format!("{} — tolerated: {}'s mprotect is in flight", v.detail, m.thread_name(v.by))).collect();
                let broke = m.broken.get(inv.id);
                let state = if !v.is_empty() { "violated" } else if !t.is_empty() { "tolerated" } else { "ok" };
                html! {
                    <li class={classes!("invariant", state)} data-invariant={inv.id} data-state={state} title={inv.explanation}>
                        <span class="mark">{ match state { "violated" => "✗ ", "tolerated" => "◐ ", _ => "✓ " } }</span>
                        <span class="name">{ inv.title }</span>
                        { if let Some(s) = broke { html!{ <span class="at">{ format!(" (broken at step {s})") }</span> } } else { html!{} } }
                        { for v.iter().chain(t.iter()).map(|d| html!{ <div class="detail">{ d.clone() }</div> }) }
                    </li>
                }
            }) }
            </ul>
        </section>
    }
}
