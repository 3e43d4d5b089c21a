//! The library page (`#library`): a gallery of the shipped scenarios — title, one-line
//! summary, kernel, what their named schedules are expected to show and what the exhaustive
//! explorer found (the committed `assets/verdicts.json`, not computed here) — searchable by
//! text, operation and invariant; a card opens its scenario in the stepper. Entries and
//! filters are `authoring::gallery` (tested natively).

use std::rc::Rc;

use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::authoring::{self, GalleryEntry, Verdict};

#[derive(Properties, PartialEq)]
pub struct Props {
    /// Open this library path in the stepper.
    pub on_open: Callback<&'static str>,
    /// Back to the stepper with what was on screen.
    pub on_close: Callback<()>,
}

fn input_value(e: &Event) -> String {
    e.target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        .map(|i| i.value())
        .or_else(|| {
            e.target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok())
                .map(|s| s.value())
        })
        .unwrap_or_default()
}

#[function_component(Gallery)]
pub fn gallery(p: &Props) -> Html {
    let entries = use_memo((), |_| authoring::gallery());
    let invariants = use_memo((), {
        let e = Rc::clone(&entries);
        move |_| authoring::gallery_invariants(&e)
    });
    let query = use_state(String::new);
    let op = use_state(String::new);
    let inv = use_state(String::new);

    let on_query = {
        let q = query.clone();
        Callback::from(move |e: InputEvent| q.set(input_value(&e)))
    };
    let on_op = {
        let s = op.clone();
        Callback::from(move |e: Event| s.set(input_value(&e)))
    };
    let on_inv = {
        let s = inv.clone();
        Callback::from(move |e: Event| s.set(input_value(&e)))
    };
    let close = {
        let c = p.on_close.clone();
        Callback::from(move |_: MouseEvent| c.emit(()))
    };
    let shown: Vec<&GalleryEntry> = entries
        .iter()
        .filter(|e| e.matches(&query, &op, &inv))
        .collect();

    html! {
        <section class="gallery-page" id="library" aria-labelledby="library-title">
            <div class="gallery-head">
                <h2 id="library-title">{ "Scenario library" }</h2>
                <input id="library-search" type="search" placeholder="Search titles, kernels, invariants…"
                       value={(*query).clone()} oninput={on_query} aria-label="Search the library" />
                <label>{ "operation " }
                    <select id="library-op" onchange={on_op}>
                        <option value="" selected={op.is_empty()}>{ "any" }</option>
                        { for authoring::op_filters().into_iter().map(|(l, _)| html! {
                            <option value={l} selected={*op == l}>{ l }</option>
                        }) }
                    </select>
                </label>
                <label>{ "invariant " }
                    <select id="library-inv" onchange={on_inv}>
                        <option value="" selected={inv.is_empty()}>{ "any" }</option>
                        { for invariants.iter().map(|i| html! {
                            <option value={i.clone()} selected={*inv == *i}>{ i.clone() }</option>
                        }) }
                    </select>
                </label>
                <span class="dim" id="library-count">{ format!("{} of {}", shown.len(), entries.len()) }</span>
                <span class="spacer"></span>
                <button id="library-close" onclick={close}>{ "Back to the stepper" }</button>
            </div>
            <p class="dim gallery-legend">{ "“expected: …” badges state what each scenario's named schedules are expected to show (checked by the test suite for those schedules only). “all interleavings: safe” / “violated: invariant (k steps)” badges are the exhaustive explorer's verdict (mmrace check's defaults) over every interleaving, with the length of a shortest counterexample; they are precomputed and kept in step with the model by the test suite. Open a scenario and explore to see the counterexample." }</p>
            { if shown.is_empty() {
                html! { <p class="gallery-empty" id="library-empty">{ "No scenario matches." }</p> }
            } else {
                html! {
                    <ul class="cards">
                        { for shown.iter().map(|e| card(e, &p.on_open)) }
                    </ul>
                }
            } }
        </section>
    }
}

fn card(e: &GalleryEntry, on_open: &Callback<&'static str>) -> Html {
    let path = e.path;
    let open = {
        let o = on_open.clone();
        Callback::from(move |_: MouseEvent| o.emit(path))
    };
    let vclass = match &e.verdict {
        Verdict::Violates(_) => "bad",
        Verdict::Safe(_) => "ok",
        Verdict::Unstated => "none",
    };
    let exhaustive = e.exhaustive.as_ref().map(|x| {
        html! {
            <span class={classes!("verdict", "exhaustive", x.class())}
                  title="The exhaustive explorer's verdict over every interleaving">{ x.label() }</span>
        }
    });
    html! {
        <li class="card" data-path={path}>
            <h3><button class="open-scenario" onclick={open} title={format!("Open {path} in the stepper")}>{ e.title.clone() }</button></h3>
            <p class="summary">{ e.summary.clone() }</p>
            <div class="badges">
                <span class={classes!("kernel-tag", e.hypothetical.then_some("hyp"), e.historical.then_some("hist"))}>{ e.kernel.clone() }</span>
                <span class={classes!("verdict", "expected", vclass)}
                      title="What the named schedules are expected to show">{ e.verdict.label() }</span>
                { for exhaustive }
                { for e.condition_badge().map(|(class, words)| html! {
                    <span class={classes!("verdict", "condition", class)}
                          title="The scenario's condition, decided by the exhaustive explorer over every interleaving">{ words }</span>
                }) }
                { for e.ops.iter().map(|o| html! { <span class="op-tag">{ *o }</span> }) }
                <span class="dim">{ format!("{} schedule{}", e.schedules, if e.schedules == 1 { "" } else { "s" }) }</span>
            </div>
        </li>
    }
}
