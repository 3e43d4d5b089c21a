//! The page-table panel: the PMD level, then each PTE table (mapped or deposited) with its PT
//! lock, one row per entry — raw hex and decoded chips — and runs of alike entries collapsed
//! into one row that expands on click.

use std::rc::Rc;

use sim_core::pte::{self, Level, PMD_SHIFT};
use sim_core::Machine;
use yew::prelude::*;

use crate::panels::{chips, entry_detail, Changed};
use crate::state::View;
use sim_core::runs::{self, Row};

#[derive(Properties)]
pub struct TablesProps {
    pub view: Rc<View>,
}

impl PartialEq for TablesProps {
    fn eq(&self, o: &Self) -> bool {
        Rc::ptr_eq(&self.view, &o.view)
    }
}

/// Which runs are expanded: (table pfn, first index). A list: a few at most.
type Expanded = Vec<(u64, u16)>;

#[function_component(PageTables)]
pub fn page_tables(p: &TablesProps) -> Html {
    let expanded = use_state(Expanded::new);
    let m = &p.view.machine;
    let c = Changed::of(m, p.view.last.as_ref());
    let toggle = {
        let expanded = expanded.clone();
        Callback::from(move |key: (u64, u16)| {
            let mut e = (*expanded).clone();
            if e.contains(&key) {
                e.retain(|k| *k != key);
            } else {
                e.push(key);
            }
            expanded.set(e);
        })
    };
    let pmd_region_lock = |addr: u64| m.pt.pmd_locks.get(&(addr >> 30)).copied();
    html! {
        <section class="panel tables" aria-label="Page tables">
            <h2>{ "Page tables" }</h2>
            { for (m.pt.pmds.is_empty()).then(|| html! { <p class="dim">{ "No PMD entries: nothing is mapped." }</p> }) }
            { for m.pt.pmds.iter().map(|(&idx, &pmd)| {
                let addr = idx << PMD_SHIFT;
                let is_table = pte::pmd_is_table(pmd);
                let old = c.pmds.get(&addr);
                let lock = pmd_region_lock(addr);
                let deposited = m.pt.deposited.get(&idx).copied();
                html! {
                    <div class="pmd-block">
                        <div class={classes!("pmd", if old.is_some() { "changed" } else { "" })} data-pmd={format!("{addr:#x}")}>
                            <span class="lvl">{ "PMD" }</span>
                            <code class="addr">{ format!("{addr:#x}") }</code>
                            <span class="dim">{ format!("[{}]", idx & 511) }</span>
                            <code class="hex">{ pte::hex(pmd) }</code>
                            { if is_table {
                                html! { <span class="desc table-ptr">{ format!("→ PTE table pfn {:#x}", pte::pmd_table_pfn(pmd)) }</span> }
                              } else {
                                html! { <>{ for pte::pmd_trans_huge(pmd).then(|| html! { <span class="kind-tag huge">{ "huge 2 MiB" }</span> }) }{ entry_detail(pmd, Level::Pmd) }{ permission_tag(m, addr, pmd, Level::Pmd, &m.protection_changes_in_flight()) }</> }
                              } }
                            { for old.map(|o| html! { <span class="was">{ format!("was {}", pte::hex(*o)) }</span> }) }
                            { for lock.map(|h| html! { <span class="ptl held">{ format!("PMD lock: {}", crate::panels::tname(m, h)) }</span> }) }
                        </div>
                        { if is_table { pte_table(m, addr, pte::pmd_table_pfn(pmd), false, &c, &expanded, &toggle) } else { html! {} } }
                        { for deposited.filter(|t| m.pt.tables.get(t).is_some_and(|t| !t.entries.is_empty() || t.ptl.is_some()))
                            .map(|t| pte_table(m, addr, t, true, &c, &expanded, &toggle)) }
                        { for deposited.filter(|t| m.pt.tables.get(t).is_none_or(|t| t.entries.is_empty() && t.ptl.is_none()))
                            .map(|t| html! { <div class="deposit-note dim">{ format!("deposited PTE table pfn {t:#x} (empty, for a later split)") }</div> }) }
                    </div>
                }
            }) }
        </section>
    }
}

fn pte_table(
    m: &Machine,
    base: u64,
    table: u64,
    deposited: bool,
    c: &Changed,
    expanded: &Expanded,
    toggle: &Callback<(u64, u16)>,
) -> Html {
    let t = m.pt.tables.get(&table);
    let lock = t.and_then(|t| t.ptl);
    let slots = runs::slots(m, base, table, deposited);
    let get = |i: u16| t.map_or(0, |t| t.get(i));
    let rows = runs::rows(&slots, get, |i| c.pte(table, i));
    let addr_of = |i: u16| base + ((i as u64) << 12);
    let waiters: Vec<String> = (0..m.threads.len())
        .filter(|&th| m.blocked_on(th) == Some(sim_core::state::LockId::Ptl { table_pfn: table }))
        .map(|th| crate::panels::tname(m, th))
        .collect();
    let inflight = m.protection_changes_in_flight();
    let one = |i: u16, in_run: bool| {
        let raw = get(i);
        let old = c.ptes.get(&(table, i));
        let ch = c.pte(table, i);
        html! {
            <tr class={classes!("pte", if ch { "changed" } else { "" }, if in_run { "in-run" } else { "" })}
                data-pte-index={i.to_string()}>
                <td class="idx">{ i }</td>
                <td class="addr"><code>{ format!("{:#x}", addr_of(i)) }</code></td>
                <td class="raw"><code class="hex">{ pte::hex(raw) }</code>
                    { for old.map(|o| html! { <div class="was">{ format!("was {}", pte::hex(*o)) }</div> }) }</td>
                <td class="decoded">{ entry_detail(raw, Level::Pte) }{ permission_tag(m, addr_of(i), raw, Level::Pte, &inflight) }</td>
            </tr>
        }
    };
    html! {
        <table class={classes!("pte-table", if deposited { "deposited" } else { "" })} data-table={format!("{table:#x}")}>
            <caption title={format!("maps {base:#x}–{:#x}", base + pte::PMD_SIZE - 1)}>
                <span class="lvl">{ if deposited { "deposited PTE table" } else { "PTE table" } }</span>
                <code>{ format!(" pfn {table:#x}") }</code>
                { for deposited.then(|| html! { <span class="tag">{ "not visible until pmd_populate" }</span> }) }
                <span class={classes!("ptl", if lock.is_some() { "held" } else { "free" }, if waiters.is_empty() { "" } else { "contended" })}>
                    { match lock { Some(h) => format!("PT lock: held by {}", crate::panels::tname(m, h)), None => "PT lock: free".into() } }
                    { for (!waiters.is_empty()).then(|| format!(" · waiting: {}", waiters.join(", "))) }
                </span>
            </caption>
            <thead><tr><th>{ "#" }</th><th class="addr">{ "address" }</th><th>{ "raw" }</th><th>{ "decoded" }</th></tr></thead>
            <tbody>
            { for rows.into_iter().map(|r| match r {
                Row::One(i) => one(i, false),
                Row::Run { start, end } => {
                    let key = (table, start);
                    let open = expanded.contains(&key);
                    let len = (end - start + 1) as usize;
                    let first = get(start);
                    let last = get(end);
                    let ch = c.pte(table, start);
                    let onclick = { let toggle = toggle.clone(); Callback::from(move |_| toggle.emit(key)) };
                    let head = html! {
                        <tr class={classes!("pte-run", if ch { "changed" } else { "" }, if open { "open" } else { "" })}
                            data-pte-run={format!("{start}-{end}")}>
                            <td class="idx">{ format!("{start}–{end}") }</td>
                            <td class="addr"><code>{ format!("{:#x}–{:#x}", addr_of(start), addr_of(end) + 0xfff) }</code></td>
                            <td class="raw"><code class="hex">{ pte::hex(first) }</code><div class="dim">{ format!("… {}", pte::hex(last)) }</div></td>
                            <td class="decoded">
                                <button class="expand" onclick={onclick} aria-expanded={open.to_string()}
                                        title={if open { "Collapse these entries" } else { "Show every entry" }}>
                                    { if open { format!("▾ {len} entries") } else { format!("▸ {len} entries") } }
                                </button>
                                <span class="run-desc">{ format!("PTE {start}–{end}: {}", runs::describe_run(first, len)) }</span>
                                { if pte::pte_present(first) { chips(first, Level::Pte) } else { html! {} } }
                                { permission_tag(m, addr_of(start), first, Level::Pte, &inflight) }
                            </td>
                        </tr>
                    };
                    if open {
                        html! { <>{ head }{ for (start..=end).map(|i| one(i, true)) }</> }
                    } else {
                        head
                    }
                }
            }) }
            </tbody>
        </table>
    }
}

/// Marks an entry more permissive than its VMA (the first invariant), right where it is: red
/// when it is a bug, amber while an mprotect covering it is in flight.
fn permission_tag(
    m: &Machine,
    addr: u64,
    raw: u64,
    level: Level,
    inflight: &[(usize, u64, u64)],
) -> Html {
    use sim_core::flags::{vma_is_accessible, VM_WRITE};
    let Some(vma) = m.mm.find_vma(addr) else {
        return html! {};
    };
    let writable = match pte::classify(raw, level) {
        pte::EntryKind::Present | pte::EntryKind::ProtNone | pte::EntryKind::InvalidatedHuge => {
            raw & pte::RW != 0
        }
        pte::EntryKind::Migration(e) => e.kind == pte::MigrationKind::Write,
        _ => false,
    };
    let (why, long) = if writable && vma.vm_flags & VM_WRITE == 0 {
        (
            "writable in a VMA without VM_WRITE",
            "writable, but the VMA's vm_flags lack VM_WRITE",
        )
    } else if raw & pte::PRESENT != 0 && !vma_is_accessible(vma.vm_flags) {
        (
            "accessible in a PROT_NONE VMA",
            "accessible, but the VMA is PROT_NONE",
        )
    } else {
        return html! {};
    };
    match inflight.iter().find(|&&(_, s, e)| s <= addr && addr < e) {
        Some(&(t, _, _)) => html! {
            <span class="perm-tag tolerated"
                  title={format!("{long}: tolerated, because {}'s mprotect covering it is in flight and will fix it before it returns", crate::panels::tname(m, t))}>
                { format!("◐ tolerated: {why}") }
            </span>
        },
        None => {
            html! { <span class="perm-tag bad" title={format!("{long}, and no mprotect covering it is in flight")}>{ format!("✗ {why}") }</span> }
        }
    }
}
