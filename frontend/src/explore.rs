//! "Explore all interleavings": the exhaustive search of the scenario on screen, run in a Web
//! Worker (`static/explore-worker.js` + the `explore-worker` wasm, fetched on first use so
//! the app's own payload does not grow), with a progress bar, states/s, Cancel, and a verdict
//! table whose "Open" loads a counterexample into the stepper at its violating step.
//!
//! This file: the pure part (reading the worker's result, verdict words; tested natively)
//! and, for wasm32, the panel component. The stepper itself is untouched: "Open" is a
//! reducer action ([`crate::state::Action::LoadSchedule`]).

/// The state budget of an exploration from the UI (the explorer's and `mmrace check`'s
/// default, so the numbers agree with the CLI).
pub const MAX_STATES: usize = 1_000_000;
/// The wall-time budget, enforced in the worker through the explorer's progress callback.
pub const TIME_LIMIT_MS: u32 = 60_000;

/// One row of the verdict table.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    pub id: String,
    pub violated: bool,
    /// A shortest counterexample (thread per step), when violated.
    pub schedule: Option<Vec<usize>>,
}

/// What the worker reported when it finished.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    pub complete: bool,
    /// `complete`, `max-states`, `max-depth` or `cancelled` (sim-core's `StopReason`).
    pub stop_reason: String,
    pub states: u64,
    pub transitions: u64,
    pub pruned: u64,
    pub max_depth: u64,
    pub verdicts: Vec<Verdict>,
    pub reduction: bool,
    /// Wall time inside the worker (wasm loading excluded).
    pub ms: f64,
    /// The worker stopped the search at the time budget.
    pub timed_out: bool,
    /// The scenario's condition, decided (sim-core's `ConditionVerdict`).
    pub condition: Option<CondOutcome>,
}

/// The decision on the scenario's `exists` / `~exists` / `forall` condition.
#[derive(Clone, Debug, PartialEq)]
pub struct CondOutcome {
    pub text: String,
    /// `None`: the search stopped before deciding it.
    pub holds: Option<bool>,
    /// `always`, `sometimes` or `never` (herd7's observation).
    pub observation: String,
    pub checked: u64,
    pub satisfied: u64,
    /// The shortest schedule that decided it: `("witness", s)` for an `exists` that holds,
    /// `("counterexample", s)` for a `~exists` or `forall` that fails.
    pub evidence: Option<(&'static str, Vec<usize>)>,
    /// Final states or every reachable state.
    pub any: bool,
}

/// sim-core's `ExploreResult` as the worker sends it, the parts the panel shows (other
/// fields are skipped). Derived rather than read through a `serde_json::Value`, whose map
/// would be one more B-tree in the size-budgeted wasm.
#[derive(serde::Deserialize)]
struct RawResult {
    #[serde(default)]
    complete: bool,
    #[serde(default)]
    stop_reason: Option<String>,
    states: u64,
    transitions: u64,
    pruned_by_reduction: u64,
    max_depth: u64,
    per_invariant: Vec<RawVerdict>,
    #[serde(default)]
    condition: Option<RawCondition>,
}

#[derive(serde::Deserialize)]
struct RawVerdict {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    violated: bool,
    #[serde(default)]
    counterexample: Option<Vec<usize>>,
}

/// sim-core's `ConditionVerdict`.
#[derive(serde::Deserialize)]
struct RawCondition {
    condition: String,
    #[serde(default)]
    holds: Option<bool>,
    observation: String,
    checked: u64,
    satisfied: u64,
    #[serde(default)]
    satisfying: Option<Vec<usize>>,
    #[serde(default)]
    falsifying: Option<Vec<usize>>,
}

impl CondOutcome {
    fn of(c: RawCondition) -> CondOutcome {
        let text = c.condition;
        let holds = c.holds;
        let evidence = if text.starts_with("exists") && holds == Some(true) {
            c.satisfying.map(|s| ("witness", s))
        } else if text.starts_with("~exists") && holds == Some(false) {
            c.satisfying.map(|s| ("counterexample", s))
        } else if text.starts_with("forall") && holds == Some(false) {
            c.falsifying.map(|s| ("counterexample", s))
        } else {
            None
        };
        let any = text.split_whitespace().nth(1).is_some_and(|w| w == "any");
        CondOutcome {
            holds,
            observation: c.observation,
            checked: c.checked,
            satisfied: c.satisfied,
            evidence,
            any,
            text,
        }
    }
}

impl Outcome {
    /// Read the JSON of sim-core's `ExploreResult`.
    pub fn parse(json: &str, reduction: bool, ms: f64, timed_out: bool) -> Result<Outcome, String> {
        let v: RawResult =
            serde_json::from_str(json).map_err(|e| format!("explorer result: {e}"))?;
        Ok(Outcome {
            complete: v.complete,
            stop_reason: v.stop_reason.unwrap_or_else(|| "?".into()),
            states: v.states,
            transitions: v.transitions,
            pruned: v.pruned_by_reduction,
            max_depth: v.max_depth,
            verdicts: v
                .per_invariant
                .into_iter()
                .map(|p| Verdict {
                    id: p.id.unwrap_or_else(|| "?".into()),
                    violated: p.violated,
                    schedule: p.counterexample,
                })
                .collect(),
            reduction,
            ms,
            timed_out,
            condition: v.condition.map(CondOutcome::of),
        })
    }

    /// How the search ended, in words.
    pub fn ending(&self) -> String {
        match self.stop_reason.as_str() {
            "complete" => "complete: every interleaving explored".into(),
            "max-states" => format!(
                "stopped: state budget ({}) used up",
                group(MAX_STATES as u64)
            ),
            "max-depth" => "stopped: depth budget used up".into(),
            _ if self.timed_out => {
                format!("stopped: time budget ({} s) used up", TIME_LIMIT_MS / 1000)
            }
            _ => "cancelled".into(),
        }
    }
}

impl Verdict {
    /// `(css/data value, words)`: violated, safe (a proof for this scenario), or not found
    /// within an incomplete search.
    pub fn word(&self, complete: bool) -> (&'static str, &'static str) {
        if self.violated {
            ("violated", "✗ violated")
        } else if complete {
            ("safe", "✓ safe")
        } else {
            ("budget", "not reached within budget")
        }
    }
}

/// `1234567` → `1,234,567`.
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Milliseconds as seconds with `places` decimals ("1.25"), by integer arithmetic: `{:.2}` on
/// an f64 links core's float formatting, ~7.8 KB gzip of the size-budgeted app's wasm.
pub fn seconds(ms: f64, places: u32) -> String {
    let scale = 10u64.pow(places);
    let v = (ms.max(0.0) * scale as f64 / 1000.0 + 0.5) as u64;
    if places == 0 {
        return v.to_string();
    }
    format!("{}.{:0w$}", v / scale, v % scale, w = places as usize)
}

/// States per second, rounded (0 for no time).
pub fn rate(states: u64, ms: f64) -> u64 {
    if ms > 0.0 {
        (states as f64 * 1000.0 / ms) as u64
    } else {
        0
    }
}

#[cfg(target_arch = "wasm32")]
pub use ui::{Explore, Requests};

#[cfg(target_arch = "wasm32")]
mod ui {
    use std::cell::Cell;
    use std::rc::Rc;

    use sim_core::invariants;
    use sim_core::Scenario;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::{JsCast, JsValue};
    use yew::prelude::*;

    use super::{group, rate, seconds, CondOutcome, Outcome, MAX_STATES, TIME_LIMIT_MS};

    /// How many times the user asked to explore (the toolbar button and the `E` key bump
    /// it; the panel starts a run when it changes).
    #[derive(Clone, Copy, Default, PartialEq)]
    pub struct Requests(pub u32);

    impl Reducible for Requests {
        type Action = ();
        fn reduce(self: Rc<Self>, _: ()) -> Rc<Self> {
            Rc::new(Requests(self.0.wrapping_add(1)))
        }
    }

    #[derive(Clone, Copy, Default, PartialEq)]
    struct Prog {
        states: u64,
        transitions: u64,
        depth: u64,
        ms: f64,
    }

    #[derive(Clone, Default, PartialEq)]
    enum Phase {
        #[default]
        Idle,
        Running(Prog),
        Done(Rc<Outcome>),
        Cancelled(Prog),
        Failed(String),
    }

    #[derive(Clone, Default, PartialEq)]
    struct St {
        /// Which run messages must belong to (older workers' late messages are ignored).
        run: u32,
        phase: Phase,
        collapsed: bool,
        reduction: bool,
    }

    enum Msg {
        Start(u32),
        Progress(u32, Prog),
        Done(u32, Rc<Outcome>),
        Failed(u32, String),
        Cancel,
        Close,
        Collapse(bool),
        Reduction(bool),
    }

    impl Reducible for St {
        type Action = Msg;
        fn reduce(self: Rc<Self>, m: Msg) -> Rc<Self> {
            let mut s = (*self).clone();
            match m {
                Msg::Start(run) => {
                    s.run = run;
                    s.phase = Phase::Running(Prog::default());
                    s.collapsed = false;
                }
                Msg::Progress(run, p) if run == s.run && matches!(s.phase, Phase::Running(_)) => {
                    s.phase = Phase::Running(p)
                }
                Msg::Done(run, o) if run == s.run => s.phase = Phase::Done(o),
                Msg::Failed(run, e) if run == s.run => s.phase = Phase::Failed(e),
                Msg::Cancel => {
                    if let Phase::Running(p) = s.phase {
                        s.phase = Phase::Cancelled(p);
                    }
                }
                Msg::Close => s.phase = Phase::Idle,
                Msg::Collapse(c) => s.collapsed = c,
                Msg::Reduction(r) => s.reduction = r,
                _ => return self,
            }
            Rc::new(s)
        }
    }

    /// The worker of the current run and what must outlive it.
    struct Running {
        worker: web_sys::Worker,
        busy: Rc<Cell<bool>>,
        _on_message: Closure<dyn FnMut(web_sys::MessageEvent)>,
        _on_error: Closure<dyn FnMut(web_sys::Event)>,
    }

    impl Drop for Running {
        fn drop(&mut self) {
            // Frees the worker's wasm memory (hundreds of MB for big searches) at once.
            self.worker.terminate();
        }
    }

    #[derive(Properties)]
    pub struct Props {
        /// The scenario on screen; a new one closes the panel (its results would be stale).
        pub scenario: Rc<Scenario>,
        pub requests: u32,
        /// Load `(schedule, cursor)` into the stepper.
        pub on_open: Callback<(Vec<usize>, usize)>,
    }

    impl PartialEq for Props {
        fn eq(&self, o: &Self) -> bool {
            Rc::ptr_eq(&self.scenario, &o.scenario)
                && self.requests == o.requests
                && self.on_open == o.on_open
        }
    }

    fn get(v: &JsValue, k: &str) -> JsValue {
        js_sys::Reflect::get(v, &JsValue::from_str(k)).unwrap_or(JsValue::UNDEFINED)
    }

    fn num(v: &JsValue, k: &str) -> f64 {
        get(v, k).as_f64().unwrap_or(0.0)
    }

    /// Start a worker exploring `scenario`; its messages go to `d` tagged with `run`.
    fn spawn(
        scenario: &Scenario,
        reduction: bool,
        run: u32,
        d: UseReducerDispatcher<St>,
    ) -> Result<Running, String> {
        let opts = web_sys::WorkerOptions::new();
        opts.set_type(web_sys::WorkerType::Module);
        // Relative to the document's base URL (`/` also under `/s/<id>`, see server page.rs).
        let worker = web_sys::Worker::new_with_options("./explore-worker.js", &opts)
            .map_err(|e| format!("cannot start the explorer worker: {e:?}"))?;
        let busy = Rc::new(Cell::new(true));
        let on_message = {
            let d = d.clone();
            let busy = busy.clone();
            let w = worker.clone();
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                let m = e.data();
                match get(&m, "type").as_string().as_deref() {
                    Some("progress") => d.dispatch(Msg::Progress(
                        run,
                        Prog {
                            states: num(&m, "states") as u64,
                            transitions: num(&m, "transitions") as u64,
                            depth: num(&m, "depth") as u64,
                            ms: num(&m, "ms"),
                        },
                    )),
                    Some("done") => {
                        busy.set(false);
                        w.terminate();
                        let json = get(&m, "result").as_string().unwrap_or_default();
                        let timed_out = get(&m, "timedOut").is_truthy();
                        d.dispatch(
                            match Outcome::parse(&json, reduction, num(&m, "ms"), timed_out) {
                                Ok(o) => Msg::Done(run, Rc::new(o)),
                                Err(e) => Msg::Failed(run, e),
                            },
                        );
                    }
                    _ => {
                        busy.set(false);
                        w.terminate();
                        let msg = get(&m, "message")
                            .as_string()
                            .unwrap_or_else(|| "unknown error".into());
                        d.dispatch(Msg::Failed(run, msg));
                    }
                }
            })
        };
        let on_error = {
            let busy = busy.clone();
            // A plain `Event` when the module script cannot be loaded, an `ErrorEvent` with a
            // message when it throws: read `message` without assuming which.
            Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
                busy.set(false);
                let msg = get(&e, "message").as_string().unwrap_or_default();
                d.dispatch(Msg::Failed(
                    run,
                    if msg.is_empty() {
                        "the explorer worker could not be loaded".into()
                    } else {
                        format!("the explorer worker failed: {msg}")
                    },
                ));
            })
        };
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let msg = js_sys::Object::new();
        let set = |k: &str, v: JsValue| {
            let _ = js_sys::Reflect::set(&msg, &JsValue::from_str(k), &v);
        };
        // Compact, as in `app::share_payload` (one JSON serializer in the app).
        let json = serde_json::to_string(scenario).expect("a scenario serialises");
        set("scenario", JsValue::from_str(&json));
        set(
            "options",
            JsValue::from_str(&format!(
                "{{\"max_states\":{MAX_STATES},\"reduction\":{reduction},\"progress_every\":2000}}"
            )),
        );
        set("timeLimitMs", JsValue::from_f64(TIME_LIMIT_MS as f64));
        worker
            .post_message(&msg)
            .map_err(|e| format!("cannot talk to the explorer worker: {e:?}"))?;
        Ok(Running {
            worker,
            busy,
            _on_message: on_message,
            _on_error: on_error,
        })
    }

    /// The panel (in the banner area): progress while running, then the verdict table.
    #[function_component(Explore)]
    pub fn explore(p: &Props) -> Html {
        let st = use_reducer(St::default);
        let running = use_mut_ref(|| None::<Running>);
        let next_run = use_mut_ref(|| 0u32);

        // A different scenario: stop and close (results would describe the old one).
        {
            let d = st.dispatcher();
            let running = running.clone();
            use_effect_with(Rc::as_ptr(&p.scenario) as usize, move |_| {
                running.borrow_mut().take();
                d.dispatch(Msg::Close);
            });
        }

        // A request: start a run (or just show the panel if one is running).
        {
            let d = st.dispatcher();
            let running = running.clone();
            let scenario = p.scenario.clone();
            let reduction = st.reduction;
            use_effect_with(p.requests, move |req| {
                if *req == 0 {
                    return;
                }
                if running.borrow().as_ref().is_some_and(|r| r.busy.get()) {
                    d.dispatch(Msg::Collapse(false));
                    return;
                }
                let run = {
                    let mut n = next_run.borrow_mut();
                    *n = n.wrapping_add(1);
                    *n
                };
                // Drop (terminate) the old worker before starting the next.
                running.borrow_mut().take();
                d.dispatch(Msg::Start(run));
                match spawn(&scenario, reduction, run, d.clone()) {
                    Ok(r) => *running.borrow_mut() = Some(r),
                    Err(e) => d.dispatch(Msg::Failed(run, e)),
                }
            });
        }

        if st.phase == Phase::Idle {
            return html! {};
        }
        let d = st.dispatcher();
        let close = {
            let d = d.clone();
            let running = running.clone();
            Callback::from(move |_| {
                running.borrow_mut().take();
                d.dispatch(Msg::Close);
            })
        };
        let toggle = {
            let d = d.clone();
            let c = st.collapsed;
            Callback::from(move |_| d.dispatch(Msg::Collapse(!c)))
        };
        let (phase, title, body) = match &st.phase {
            Phase::Idle => unreachable!("returned above"),
            Phase::Running(pr) => {
                let cancel = {
                    let d = d.clone();
                    let running = running.clone();
                    Callback::from(move |_| {
                        // terminate() stops the worker at once, wherever the search is.
                        running.borrow_mut().take();
                        d.dispatch(Msg::Cancel);
                    })
                };
                let frac = (pr.states as f64 / MAX_STATES as f64)
                    .max(pr.ms / TIME_LIMIT_MS as f64)
                    .min(1.0);
                (
                    "running",
                    "Exploring all interleavings…".to_string(),
                    html! {
                        <div class="explore-progress">
                            <progress id="explore-progress" max="1000" value={((frac * 1000.0) as u32).to_string()}
                                      title="Share of the budget used (states or time, whichever is further)"></progress>
                            <span id="explore-rate" data-states={pr.states.to_string()}>{ format!(
                                "{} states · {} transitions · depth {} · {} states/s · {} s",
                                group(pr.states), group(pr.transitions), pr.depth,
                                group(rate(pr.states, pr.ms)), seconds(pr.ms, 1)) }</span>
                            <button id="explore-cancel" onclick={cancel}>{ "Cancel" }</button>
                        </div>
                    },
                )
            }
            Phase::Cancelled(pr) => (
                "cancelled",
                format!("Cancelled after {} states", group(pr.states)),
                html! { <p class="dim">{ "Nothing is proven: the search was stopped before it covered every interleaving." }</p> },
            ),
            Phase::Failed(e) => (
                "failed",
                "The exploration failed".to_string(),
                html! { <p class="explore-error" role="alert">{ e.clone() }</p> },
            ),
            Phase::Done(o) => {
                let n_bad = o.verdicts.iter().filter(|v| v.violated).count();
                let title = if n_bad > 0 {
                    format!("{n_bad} invariant(s) violated")
                } else if o.complete {
                    "All interleavings safe".to_string()
                } else {
                    "No violation found within the budget".to_string()
                };
                ("done", title, verdict_table(o, &p.on_open, &d))
            }
        };
        let on_reduction = {
            let d = d.clone();
            let r = st.reduction;
            Callback::from(move |e: Event| {
                let on = e
                    .target()
                    .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                    .is_some_and(|i| i.checked());
                if on != r {
                    d.dispatch(Msg::Reduction(on));
                }
            })
        };
        html! {
            <section class={classes!("banner", "explore", (phase == "done" && st.phase_bad()).then_some("bad"))}
                     id="explore-panel" data-phase={phase} aria-label="Exploration of all interleavings">
                <div class="explore-head">
                    <strong id="explore-title">{ title }</strong>
                    <label class="dim" title="Sleep-set partial-order reduction: the same verdicts and shortest counterexamples, fewer transitions (used by the next run)">
                        <input type="checkbox" id="explore-reduction" checked={st.reduction} onchange={on_reduction} />{ " sleep sets" }
                    </label>
                    { for (phase != "running").then(|| html! {
                        <button id="explore-again" title="Explore again (E)" onclick={
                            // Through the toolbar button, so there is one way to start.
                            Callback::from(|_| click("explore"))
                        }>{ "Run again" }</button>
                    }) }
                    <button id="explore-toggle" onclick={toggle} aria-expanded={(!st.collapsed).to_string()}>{ if st.collapsed { "Show ▾" } else { "Hide ▴" } }</button>
                    <button class="dismiss" id="explore-close" onclick={close} aria-label="Close the exploration">{ "✕" }</button>
                </div>
                { for (!st.collapsed).then_some(body) }
            </section>
        }
    }

    impl St {
        fn phase_bad(&self) -> bool {
            matches!(&self.phase, Phase::Done(o) if o.verdicts.iter().any(|v| v.violated))
        }
    }

    fn verdict_table(
        o: &Outcome,
        on_open: &Callback<(Vec<usize>, usize)>,
        d: &UseReducerDispatcher<St>,
    ) -> Html {
        html! {
            <div class="explore-result">
                <p id="explore-stats" class="dim" data-states={o.states.to_string()} data-transitions={o.transitions.to_string()}
                   data-complete={o.complete.to_string()} data-stop={o.stop_reason.clone()}>{ format!(
                    "{} — {} states, {} transitions, {} pruned by sleep sets{}, max depth {}, {} s ({} states/s)",
                    o.ending(), group(o.states), group(o.transitions), group(o.pruned),
                    if o.reduction { "" } else { " (off)" }, o.max_depth, seconds(o.ms, 2), group(rate(o.states, o.ms))) }</p>
                <table class="explore-verdicts">
                    <thead><tr><th scope="col">{ "invariant" }</th><th scope="col">{ "verdict" }</th><th scope="col">{ "shortest counterexample" }</th><th></th></tr></thead>
                    <tbody>
                    { for o.verdicts.iter().map(|v| {
                        let (key, word) = v.word(o.complete);
                        let title = invariants::ALL.iter().find(|i| i.id == v.id).map(|i| i.title).unwrap_or(v.id.as_str());
                        let len = v.schedule.as_ref().map(Vec::len);
                        let open = v.schedule.clone().map(|s| {
                            let on_open = on_open.clone();
                            let d = d.clone();
                            Callback::from(move |_| {
                                let n = s.len();
                                on_open.emit((s.clone(), n));
                                d.dispatch(Msg::Collapse(true));
                            })
                        });
                        html! {
                            <tr class={key} data-invariant={v.id.clone()} data-verdict={key}
                                data-length={len.map(|l| l.to_string()).unwrap_or_default()}>
                                <td title={v.id.clone()}>{ title }</td>
                                <td class="verdict">{ word }</td>
                                <td>{ len.map(|l| format!("{l} steps")).unwrap_or_default() }</td>
                                <td>{ for open.map(|cb| html! {
                                    <button class="open-cex" onclick={cb} title="Load this schedule into the stepper at the violating step">{ "Open" }</button>
                                }) }</td>
                            </tr>
                        }
                    }) }
                    </tbody>
                </table>
                { for o.condition.as_ref().map(|c| condition_row(c, on_open, d)) }
            </div>
        }
    }

    /// The scenario's condition: decided or not, herd7's observation, and "Open" for the
    /// schedule that decided it.
    fn condition_row(
        c: &CondOutcome,
        on_open: &Callback<(Vec<usize>, usize)>,
        d: &UseReducerDispatcher<St>,
    ) -> Html {
        let (key, word) = match c.holds {
            Some(true) => ("holds", "✓ holds"),
            Some(false) => ("fails", "✗ does not hold"),
            None => ("budget", "undecided (search stopped)"),
        };
        let open = c.evidence.clone().map(|(kind, s)| {
            let on_open = on_open.clone();
            let d = d.clone();
            let n = s.len();
            let cb = Callback::from(move |_| {
                on_open.emit((s.clone(), n));
                d.dispatch(Msg::Collapse(true));
            });
            html! {
                <button class="open-cex" id="explore-condition-open" onclick={cb}
                        title={format!("Load the shortest {kind} into the stepper")}>
                    { format!("Open {kind} ({n} steps)") }
                </button>
            }
        });
        html! {
            <p id="explore-condition" class={classes!("explore-condition", key)} data-holds={key}
               data-evidence={c.evidence.as_ref().map(|(_, s)| s.len().to_string()).unwrap_or_default()}>
                { "Condition " }<code>{ c.text.clone() }</code>{ ": " }
                <strong>{ word }</strong>
                { format!(" — observation {}: {} of {} {} satisfy it ",
                    c.observation, group(c.satisfied), group(c.checked),
                    if c.any { "reachable states" } else { "final states" }) }
                { for open }
            </p>
        }
    }

    /// Click the element with this id (the `E` key and "Run again" go through the toolbar
    /// button).
    pub fn click(id: &str) {
        if let Some(el) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(id))
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        {
            el.click();
        }
    }
}

#[cfg(target_arch = "wasm32")]
pub use ui::click;

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::explore::{explore, ExploreOptions};
    use sim_core::Scenario;

    fn outcome(path: &str) -> (Outcome, sim_core::explore::ExploreResult) {
        let sc = Scenario::from_json(sim_core::library::get(path).unwrap()).unwrap();
        let r = explore(&sc.build().unwrap(), &ExploreOptions::default());
        let json = serde_json::to_string(&r).unwrap();
        (Outcome::parse(&json, false, 12.0, false).unwrap(), r)
    }

    #[test]
    fn seconds_are_rounded_half_up_without_float_formatting() {
        for (ms, places, want) in [
            (0.0, 1, "0.0"),
            (12.0, 2, "0.01"),
            (1234.0, 2, "1.23"),
            (1235.0, 2, "1.24"),
            (59_960.0, 1, "60.0"),
            (61_449.9, 1, "61.4"),
            (-3.0, 2, "0.00"),
            (999.0, 0, "1"),
        ] {
            assert_eq!(seconds(ms, places), want, "{ms} ms, {places} places");
        }
    }

    #[test]
    fn reads_the_explorer_result() {
        let (o, r) = outcome("whatif-c-restore-from-stale-entry-v6.4.json");
        assert_eq!((o.states, o.complete), (r.states as u64, true));
        assert_eq!(o.verdicts.len(), r.per_invariant.len());
        let bad = o
            .verdicts
            .iter()
            .find(|v| v.violated)
            .expect("what-if (c) violates");
        let native = r.verdict(&bad.id).unwrap();
        assert_eq!(bad.schedule, native.counterexample);
        assert_eq!(bad.word(true).0, "violated");
        assert_eq!(o.ending(), "complete: every interleaving explored");
        let ok = o.verdicts.iter().find(|v| !v.violated).unwrap();
        assert_eq!(ok.word(true).0, "safe");
        assert_eq!(ok.word(false).0, "budget");
    }

    #[test]
    fn reads_the_condition_and_picks_the_schedule_that_decided_it() {
        // exists that holds: the witness.
        let (o, r) = outcome("whatif-c-restore-from-stale-entry-v6.4.json");
        let c = o.condition.expect("the scenario has a condition");
        let native = r.condition.unwrap();
        assert_eq!(c.holds, Some(true));
        assert!(c.any && c.text.starts_with("exists any ("));
        assert_eq!(
            (c.checked, c.satisfied),
            (native.checked as u64, native.satisfied as u64)
        );
        assert_eq!(c.evidence, native.satisfying.map(|s| ("witness", s)));
        assert_eq!(c.observation, "sometimes");
        // ~exists that holds: nothing to open.
        let (o, _) = outcome("whatif-c-control-v6.4.json");
        let c = o.condition.unwrap();
        assert_eq!((c.holds, c.evidence), (Some(true), None));
        assert_eq!(c.observation, "never");
        // No condition: none.
        assert!(outcome("whatif-e-control-v6.4.json").0.condition.is_none());
    }

    #[test]
    fn open_loads_the_counterexample_at_its_violating_step() {
        use crate::state::{Action, App};
        let path = "whatif-c-restore-from-stale-entry-v6.4.json";
        let (o, _) = outcome(path);
        let bad = o.verdicts.iter().find(|v| v.violated).unwrap();
        let cex = bad.schedule.clone().unwrap();
        let app = App::from_library(path, None).unwrap();
        let next = app.apply(Action::LoadSchedule(cex.clone(), cex.len()));
        assert!(next.error.is_none(), "{:?}", next.error);
        assert_eq!((next.cursor, &*next.schedule), (cex.len(), &cex));
        assert!(std::rc::Rc::ptr_eq(&next.scenario, &app.scenario));
        assert_eq!(next.source, Some(path));
        assert!(next.view.violated_ids().contains(&bad.id.as_str()));
        // One step earlier the invariant still held: this is the violating step.
        let before = next.apply(Action::Back);
        assert!(!before.view.violated_ids().contains(&bad.id.as_str()));
        // A schedule that does not replay is an error, not a panic.
        let broken = app.apply(Action::LoadSchedule(vec![99], 1));
        assert!(broken.error.is_some());
    }

    #[test]
    fn bad_results_are_errors() {
        assert!(Outcome::parse("{", false, 0.0, false).is_err());
        let e = Outcome::parse("{\"per_invariant\": []}", false, 0.0, false).unwrap_err();
        assert!(e.contains("states"), "{e}");
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(1234567), "1,234,567");
        assert_eq!(rate(1000, 500.0), 2000);
        assert_eq!(rate(5, 0.0), 0);
    }
}
