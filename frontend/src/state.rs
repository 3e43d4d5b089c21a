//! The app state as a reducer: (scenario, schedule, cursor) plus a little view state.
//! Everything shown is derived from these by replaying sim-core.
//!
//! Replay is kept cheap: a step forward steps a clone of the machine on screen; a jump
//! replays from the nearest checkpoint (a machine clone every `cp_every` steps); the
//! per-step summary the timeline draws (thread, lock events, violations) is computed once per
//! schedule and extended step by step.

use std::rc::Rc;

use sim_core::invariants::{self, Tolerated, Violation};
use sim_core::link::Link;
use sim_core::machine::Status;
use sim_core::{Machine, Scenario, StepRecord};

/// The library scenario shown when the page is opened without a link.
pub const DEFAULT_PATH: &str = "mprotect-basic.json";

/// At most this many checkpoints per schedule (their interval grows with the schedule).
const MAX_CHECKPOINTS: usize = 256;
/// Checkpoint at least every this many steps.
const MIN_CHECKPOINT_EVERY: usize = 64;
/// "Next lock event", "next violation" and "finish" run past the loaded schedule for at most
/// this many steps.
const MAX_AUTO_STEPS: usize = 20_000;
/// "Step by line" takes at most this many actions.
const MAX_LINE_STEPS: usize = 1_024;

/// The shipped scenarios, in the library's order: (path, JSON).
pub fn library() -> &'static [(&'static str, &'static str)] {
    sim_core::library::SCENARIOS
}

/// What the timeline needs to know about one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepInfo {
    pub thread: u8,
    /// The step acquired, released, waited for or was handed a lock.
    pub lock: bool,
    /// Some invariant is violated in the state after this step.
    pub violated: bool,
    /// An invariant broke at this step (it held before).
    pub new_violation: bool,
}

impl StepInfo {
    fn of(r: &StepRecord, prev_violated: &[&'static str]) -> StepInfo {
        StepInfo {
            thread: r.thread as u8,
            lock: !r.locks.is_empty(),
            violated: !r.violated.is_empty(),
            new_violation: !r.violations.is_empty()
                || r.violated.iter().any(|v| !prev_violated.contains(v)),
        }
    }
}

/// The invariants in the state on screen (computed once per state, not per render).
#[derive(Default)]
pub struct Inv {
    pub bad: Vec<Violation>,
    pub tolerated: Vec<Tolerated>,
}

/// What the panels render.
pub struct View {
    pub machine: Machine,
    /// The record of the step that led here (`None` at step 0).
    pub last: Option<StepRecord>,
    pub inv: Inv,
}

impl View {
    fn new(machine: Machine, last: Option<StepRecord>) -> View {
        let (mut bad, tolerated) = invariants::check_state(&machine);
        bad.extend(invariants::check_end(&machine));
        View {
            machine,
            last,
            inv: Inv { bad, tolerated },
        }
    }

    /// The invariants the step that led here reported (none at step 0): what the timeline
    /// summary of the next step is compared with.
    pub fn last_violated(&self) -> Vec<&'static str> {
        self.last
            .as_ref()
            .map(|r| r.violated.clone())
            .unwrap_or_default()
    }

    /// Invariant ids violated now: in the state, or by this step's events (a store that
    /// completed where it must not have).
    pub fn violated_ids(&self) -> Vec<&'static str> {
        let mut ids: Vec<&'static str> = self.inv.bad.iter().map(|v| v.id).collect();
        if let Some(r) = &self.last {
            ids.extend(r.violated.iter().copied());
        }
        sim_core::vec_map::sort_small_by_key(&mut ids, |id| *id);
        ids.dedup();
        ids
    }
}

/// A named schedule of the scenario and its resolved steps.
#[derive(Clone, PartialEq)]
pub struct Named {
    pub name: String,
    pub steps: Rc<Vec<usize>>,
}

#[derive(Clone)]
pub struct App {
    pub scenario: Rc<Scenario>,
    /// The library entry this scenario is (by content), if any.
    pub source: Option<&'static str>,
    /// The initial machine (validated once).
    pub initial: Rc<Machine>,
    /// Which thread takes each step.
    pub schedule: Rc<Vec<usize>>,
    /// Per step of `schedule`: what the timeline marks.
    pub summary: Rc<Vec<StepInfo>>,
    /// How many steps of the schedule are applied.
    pub cursor: usize,
    /// The thread → steps past the end of the schedule, digits choose it.
    pub selected: Option<usize>,
    /// The named schedule this one was loaded from (its notes narrate the steps).
    pub named: Option<Named>,
    /// How many leading steps of `schedule` agree with `named` (notes apply only there).
    pub named_prefix: usize,
    /// Read-only (embed view): stepping stays within the loaded schedule.
    pub read_only: bool,
    /// Derived: the machine at the cursor and the record of the step that led to it.
    pub view: Rc<View>,
    checkpoints: Rc<Vec<(usize, Machine)>>,
    cp_every: usize,
    /// A replay error (should not happen: schedules are validated).
    pub error: Option<String>,
    /// A transient message for the user (why a thread cannot step, ...).
    pub notice: Option<String>,
}

impl PartialEq for App {
    fn eq(&self, o: &Self) -> bool {
        Rc::ptr_eq(&self.scenario, &o.scenario)
            && Rc::ptr_eq(&self.schedule, &o.schedule)
            && Rc::ptr_eq(&self.view, &o.view)
            && self.cursor == o.cursor
            && self.selected == o.selected
            && self.error == o.error
            && self.notice == o.notice
            && self.read_only == o.read_only
    }
}

pub enum Action {
    /// → : next step of the loaded schedule, or past its end the selected (or first
    /// runnable) thread.
    Step,
    /// Step thread `t` now (the user is the scheduler); truncates the schedule here if it
    /// disagrees with the loaded one.
    StepThread(usize),
    Back,
    Jump(usize),
    /// Forward to the next step that does something to a lock.
    NextLock,
    /// Forward to the next step that breaks an invariant.
    NextViolation,
    /// Step by line: the selected thread (else the one → steps) runs until its current
    /// pseudo-code line changes, it blocks or it finishes; every action is recorded.
    StepLine,
    /// Past the loaded schedule: run the selected / first runnable thread until every thread
    /// finished (or a deadlock).
    Finish,
    Select(usize),
    /// Enter: step the selected thread (or → if none is selected).
    StepSelected,
    /// Replace everything (scenario picker, link).
    Load(Box<App>),
    /// Replace the schedule of the same scenario and put the cursor at a step (the
    /// explorer's counterexamples: "Open" shows the violating step).
    LoadSchedule(Vec<usize>, usize),
    ClearNotice,
    /// Show an error (a scenario that failed to load).
    ShowError(String),
    ClearError,
}

impl App {
    /// The default scenario from the library.
    #[cfg(test)]
    pub fn default_scenario() -> Scenario {
        let json = sim_core::library::get(DEFAULT_PATH).expect("the default scenario is shipped");
        Scenario::from_json(json).expect("the default scenario is valid")
    }

    /// The default app: the default scenario with its first named schedule at step 0.
    pub fn default_app() -> App {
        App::from_library(DEFAULT_PATH, None).expect("the default scenario builds")
    }

    /// A library scenario with the named schedule (or its first one) loaded at step 0.
    pub fn from_library(path: &str, schedule: Option<&str>) -> Result<App, String> {
        let (path, json) = library()
            .iter()
            .find(|(p, _)| *p == path)
            .ok_or_else(|| format!("there is no scenario `{path}`"))?;
        let sc = Scenario::from_json(json).map_err(|e| format!("{path}: {e}"))?;
        let name = match schedule {
            Some(n) => Some(n.to_string()),
            None => sc.schedules.first().map(|s| s.name.clone()),
        };
        let mut app = App::with_named(sc, name.as_deref(), None, 0)?;
        app.source = Some(path);
        Ok(app)
    }

    /// A link's scenario, schedule and cursor.
    pub fn from_link(link: Link) -> Result<App, String> {
        let Link {
            scenario,
            schedule,
            cursor,
            schedule_name,
        } = link;
        let mut app = App::with_named(scenario, schedule_name.as_deref(), Some(schedule), cursor)?;
        app.source = library_source(&app.scenario);
        Ok(app)
    }

    /// A scenario from elsewhere (a stored short link): its named schedule `name` (default:
    /// the first) at step `cursor` (clamped to the schedule).
    pub fn from_scenario(sc: Scenario, name: Option<&str>, cursor: usize) -> Result<App, String> {
        let name = match name {
            Some(n) if sc.schedule(n).is_some() => Some(n.to_string()),
            Some(n) => return Err(format!("the scenario has no schedule named `{n}`")),
            None => sc.schedules.first().map(|s| s.name.clone()),
        };
        let mut app = App::with_named(sc, name.as_deref(), None, 0)?;
        app.source = library_source(&app.scenario);
        Ok(app.apply(Action::Jump(cursor)))
    }

    /// The same scenario with another named schedule (or, with `None`, an empty one: the user
    /// schedules) at step 0.
    pub fn with_schedule(&self, name: Option<&str>) -> Result<App, String> {
        let mut app = App::with_named((*self.scenario).clone(), name, None, 0)?;
        app.source = self.source;
        app.read_only = self.read_only;
        Ok(app)
    }

    /// Build with a named schedule: its steps unless `schedule` is given.
    fn with_named(
        scenario: Scenario,
        name: Option<&str>,
        schedule: Option<Vec<usize>>,
        cursor: usize,
    ) -> Result<App, String> {
        let initial = scenario.build().map_err(|e| e.to_string())?;
        let named = match name {
            Some(n) => {
                let s = scenario
                    .schedule(n)
                    .ok_or_else(|| format!("the scenario has no schedule `{n}`"))?;
                let steps = s.resolve(&initial).map_err(|e| e.to_string())?;
                Some(Named {
                    name: n.to_string(),
                    steps: Rc::new(steps),
                })
            }
            None => None,
        };
        let schedule = match (schedule, &named) {
            (Some(s), _) => s,
            (None, Some(n)) => (*n.steps).clone(),
            (None, None) => Vec::new(),
        };
        let mut app = App::build(scenario, initial, schedule, cursor)?;
        app.named = named;
        app.update_named_prefix();
        Ok(app)
    }

    /// Build the app for `schedule` (validated by replaying it), at `cursor`.
    #[cfg(test)]
    pub fn new(scenario: Scenario, schedule: Vec<usize>, cursor: usize) -> Result<App, String> {
        let initial = scenario.build().map_err(|e| e.to_string())?;
        let mut app = App::build(scenario, initial, schedule, cursor)?;
        app.source = library_source(&app.scenario);
        Ok(app)
    }

    fn build(
        scenario: Scenario,
        initial: Machine,
        schedule: Vec<usize>,
        cursor: usize,
    ) -> Result<App, String> {
        let cursor = cursor.min(schedule.len());
        let cp_every = MIN_CHECKPOINT_EVERY.max(schedule.len().div_ceil(MAX_CHECKPOINTS));
        // One recorded replay of the whole schedule: the timeline summary, the checkpoints
        // and the view at the cursor.
        let mut m = initial.clone();
        let mut summary = Vec::with_capacity(schedule.len());
        let mut cps = vec![(0, initial.clone())];
        let mut view = None;
        let mut prev: Vec<&'static str> = Vec::new();
        if cursor == 0 {
            view = Some(View::new(initial.clone(), None));
        }
        for (i, &t) in schedule.iter().enumerate() {
            let r = m.step(t).map_err(|e| format!("step {i}: {e}"))?;
            summary.push(StepInfo::of(&r, &prev));
            prev.clone_from(&r.violated);
            if (i + 1) % cp_every == 0 {
                cps.push((i + 1, m.clone()));
            }
            if i + 1 == cursor {
                view = Some(View::new(m.clone(), Some(r)));
            }
        }
        Ok(App {
            scenario: Rc::new(scenario),
            source: None,
            initial: Rc::new(initial),
            schedule: Rc::new(schedule),
            summary: Rc::new(summary),
            cursor,
            selected: None,
            named: None,
            named_prefix: 0,
            read_only: false,
            view: Rc::new(view.expect("the cursor is within the schedule")),
            checkpoints: Rc::new(cps),
            cp_every,
            error: None,
            notice: None,
        })
    }

    fn update_named_prefix(&mut self) {
        self.named_prefix = match &self.named {
            Some(n) => self
                .schedule
                .iter()
                .zip(n.steps.iter())
                .take_while(|(a, b)| a == b)
                .count(),
            None => 0,
        };
    }

    /// The author's note for the step on screen, if the schedule still follows the named one.
    pub fn note(&self) -> Option<&str> {
        let n = self.named.as_ref()?;
        let k = self.cursor.checked_sub(1)?;
        if k >= self.named_prefix {
            return None;
        }
        self.scenario
            .schedule(&n.name)
            .and_then(|s| s.notes.get(&k))
            .map(String::as_str)
    }

    /// The link of what is on screen (without `#`).
    pub fn link(&self) -> String {
        let mut l = Link::new(
            (*self.scenario).clone(),
            (*self.schedule).clone(),
            self.cursor,
        );
        // The name is kept only while the schedule still follows it from the start.
        l.schedule_name = self
            .named
            .as_ref()
            .filter(|_| self.named_prefix > 0 || self.schedule.is_empty())
            .map(|n| n.name.clone());
        l.encode()
    }

    pub fn machine(&self) -> &Machine {
        &self.view.machine
    }

    /// Replay to the cursor from the nearest checkpoint.
    fn recompute(&mut self) -> Result<(), String> {
        let (start, mut m) = self
            .checkpoints
            .iter()
            .rev()
            .find(|(i, _)| *i <= self.cursor)
            .map(|(i, m)| (*i, m.clone()))
            .unwrap_or((0, (*self.initial).clone()));
        let mut last = None;
        let mut new_cps = Vec::new();
        for i in start..self.cursor {
            let t = self.schedule[i];
            if i + 1 == self.cursor {
                last = Some(m.step(t).map_err(|e| format!("step {i}: {e}"))?);
            } else {
                m.step_quiet(t).map_err(|e| format!("step {i}: {e}"))?;
            }
            if (i + 1) % self.cp_every == 0 {
                new_cps.push((i + 1, m.clone()));
            }
        }
        if !new_cps.is_empty() {
            let mut cps = (*self.checkpoints).clone();
            for (i, c) in new_cps {
                insert_checkpoint(&mut cps, i, c);
            }
            self.checkpoints = Rc::new(cps);
        }
        self.view = Rc::new(View::new(m, last));
        Ok(())
    }

    /// One step forward along the loaded schedule (the machine on screen, stepped once).
    fn forward(&mut self) -> Result<(), String> {
        let t = self.schedule[self.cursor];
        let mut m = self.view.machine.clone();
        let r = m
            .step(t)
            .map_err(|e| format!("step {}: {e}", self.cursor))?;
        self.cursor += 1;
        if self.cursor % self.cp_every == 0
            && !self.checkpoints.iter().any(|(j, _)| *j == self.cursor)
        {
            let mut cps = (*self.checkpoints).clone();
            insert_checkpoint(&mut cps, self.cursor, m.clone());
            self.checkpoints = Rc::new(cps);
        }
        self.view = Rc::new(View::new(m, Some(r)));
        Ok(())
    }

    /// Truncate the schedule at the cursor and append a step of thread `t`.
    fn push_step(&mut self, t: usize) -> Result<(), String> {
        let cur = self.cursor;
        let mut m = self.view.machine.clone();
        let r = m.step(t).map_err(|e| format!("step {cur}: {e}"))?;
        let mut s = (*self.schedule).clone();
        s.truncate(cur);
        s.push(t);
        let mut sum = (*self.summary).clone();
        sum.truncate(cur);
        let prev = self.view.last_violated();
        sum.push(StepInfo::of(&r, &prev));
        if self.checkpoints.iter().any(|(i, _)| *i > cur) {
            let cps: Vec<(usize, Machine)> = self
                .checkpoints
                .iter()
                .filter(|(i, _)| *i <= cur)
                .cloned()
                .collect();
            self.checkpoints = Rc::new(cps);
        }
        self.schedule = Rc::new(s);
        self.summary = Rc::new(sum);
        self.cursor += 1;
        self.view = Rc::new(View::new(m, Some(r)));
        self.update_named_prefix();
        Ok(())
    }

    /// The thread → steps past the end of the schedule: the selected one if it can run,
    /// else the first runnable.
    fn auto_pick(&self) -> Option<usize> {
        let m = &self.view.machine;
        self.selected
            .filter(|&t| t < m.threads.len() && m.is_runnable(t))
            .or_else(|| m.runnable().first().copied())
    }

    /// Why nothing can step past the end.
    fn stuck_notice(&self) -> String {
        let m = &self.view.machine;
        if m.all_finished() {
            "Every thread has finished.".into()
        } else {
            "No thread can run: deadlock.".into()
        }
    }

    /// Step forward until `stop(info)` holds for a step; past the loaded schedule, pick
    /// threads as → does. Returns whether such a step was found.
    fn advance_until(&mut self, stop: impl Fn(&StepInfo) -> bool) -> Result<bool, String> {
        if let Some(k) = self.summary[self.cursor.min(self.summary.len())..]
            .iter()
            .position(&stop)
        {
            self.cursor += k + 1;
            self.recompute()?;
            return Ok(true);
        }
        if self.read_only {
            return Ok(false);
        }
        if self.cursor < self.schedule.len() {
            self.cursor = self.schedule.len();
            self.recompute()?;
        }
        // Extend the schedule on a scratch machine, then rebuild once.
        let mut m = self.view.machine.clone();
        let mut prev = self.view.last_violated();
        let mut extra = Vec::new();
        let mut found = false;
        for _ in 0..MAX_AUTO_STEPS {
            let pick = self
                .selected
                .filter(|&t| t < m.threads.len() && m.is_runnable(t))
                .or_else(|| m.runnable().first().copied());
            let Some(t) = pick else { break };
            let r = m.step(t).map_err(|e| e.to_string())?;
            let info = StepInfo::of(&r, &prev);
            prev = r.violated;
            extra.push(t);
            if stop(&info) {
                found = true;
                break;
            }
        }
        if !found {
            return Ok(false);
        }
        self.extend(&extra)?;
        Ok(true)
    }

    /// Past the end: run the selected / first runnable thread until nothing can run.
    fn finish(&mut self) -> Result<(), String> {
        let mut extra = Vec::new();
        let mut m = self.view.machine.clone();
        for _ in 0..MAX_AUTO_STEPS {
            let pick = self
                .selected
                .filter(|&t| t < m.threads.len() && m.is_runnable(t))
                .or_else(|| m.runnable().first().copied());
            let Some(t) = pick else { break };
            m.step_quiet(t).map_err(|e| e.to_string())?;
            extra.push(t);
        }
        if extra.is_empty() {
            self.notice = Some(self.stuck_notice());
            Ok(())
        } else {
            self.extend(&extra)
        }
    }

    /// Step by line (see [`Action::StepLine`]): thread `t` takes actions until its position
    /// (the listing line of its next action, with the caller's lines) differs from where it
    /// started, it cannot run, or [`MAX_LINE_STEPS`]. Each action is one schedule entry, so
    /// Back, the timeline and links stay per action. Along the loaded schedule it only
    /// follows the schedule (it stops where the schedule switches threads or ends); off the
    /// schedule or past its end it truncates there and appends, as stepping a thread does.
    fn step_line(&mut self) -> Result<(), String> {
        let m = &self.view.machine;
        let on_schedule = self.schedule.get(self.cursor).copied();
        let pick = match self.selected.filter(|&t| t < m.threads.len()) {
            Some(t) => Some(t),
            None if on_schedule.is_some() => on_schedule,
            None if self.read_only => {
                self.notice = Some("End of the schedule (read-only view).".into());
                return Ok(());
            }
            None => self.auto_pick(),
        };
        let Some(t) = pick else {
            self.notice = Some(self.stuck_notice());
            return Ok(());
        };
        if !m.is_runnable(t) || (on_schedule != Some(t) && self.read_only) {
            // The same refusal (and reason) as stepping that thread by hand.
            *self = self.apply(Action::StepThread(t));
            return Ok(());
        }
        let line = m.position(t);
        let mut m = m.clone();
        if on_schedule == Some(t) {
            let mut k = 0;
            while k < MAX_LINE_STEPS && self.schedule.get(self.cursor + k) == Some(&t) {
                m.step_quiet(t)
                    .map_err(|e| format!("step {}: {e}", self.cursor + k))?;
                k += 1;
                if !m.is_runnable(t) || m.position(t) != line {
                    break;
                }
            }
            if k == 1 {
                return self.forward();
            }
            self.cursor += k;
            return self.recompute();
        }
        let mut extra = Vec::new();
        while extra.len() < MAX_LINE_STEPS {
            m.step_quiet(t).map_err(|e| e.to_string())?;
            extra.push(t);
            if !m.is_runnable(t) || m.position(t) != line {
                break;
            }
        }
        self.append(&extra)
    }

    /// Truncate the schedule at the cursor, append `extra` steps (stepping the machine on
    /// screen, not replaying the schedule) and move the cursor past them.
    fn append(&mut self, extra: &[usize]) -> Result<(), String> {
        let cur = self.cursor;
        let mut m = self.view.machine.clone();
        let mut s = (*self.schedule).clone();
        s.truncate(cur);
        let mut sum = (*self.summary).clone();
        sum.truncate(cur);
        let mut cps: Vec<(usize, Machine)> = self
            .checkpoints
            .iter()
            .filter(|(i, _)| *i <= cur)
            .cloned()
            .collect();
        let mut prev = self.view.last_violated();
        let mut last = None;
        for &t in extra {
            let r = m.step(t).map_err(|e| format!("step {}: {e}", s.len()))?;
            sum.push(StepInfo::of(&r, &prev));
            prev.clone_from(&r.violated);
            s.push(t);
            if s.len() % self.cp_every == 0 {
                cps.push((s.len(), m.clone()));
            }
            last = Some(r);
        }
        if last.is_none() {
            return Ok(());
        }
        self.cursor = s.len();
        self.schedule = Rc::new(s);
        self.summary = Rc::new(sum);
        self.checkpoints = Rc::new(cps);
        self.view = Rc::new(View::new(m, last));
        self.update_named_prefix();
        Ok(())
    }

    /// Append `extra` steps at the end of the schedule and move the cursor to the end.
    fn extend(&mut self, extra: &[usize]) -> Result<(), String> {
        let mut s = (*self.schedule).clone();
        s.extend_from_slice(extra);
        let cursor = s.len();
        let mut next = App::build((*self.scenario).clone(), (*self.initial).clone(), s, cursor)?;
        next.scenario = Rc::clone(&self.scenario);
        next.initial = Rc::clone(&self.initial);
        next.source = self.source;
        next.selected = self.selected;
        next.named = self.named.clone();
        next.read_only = self.read_only;
        next.update_named_prefix();
        *self = next;
        Ok(())
    }

    /// Another schedule of the same scenario (no named schedule: the user's) at `cursor`.
    fn load_schedule(&mut self, schedule: Vec<usize>, cursor: usize) -> Result<(), String> {
        let mut next = App::build(
            (*self.scenario).clone(),
            (*self.initial).clone(),
            schedule,
            cursor,
        )?;
        next.scenario = Rc::clone(&self.scenario);
        next.initial = Rc::clone(&self.initial);
        next.source = self.source;
        next.read_only = self.read_only;
        *self = next;
        Ok(())
    }

    /// Apply an action; returns the new state (the reducer).
    pub fn apply(&self, action: Action) -> App {
        let mut next = self.clone();
        next.notice = None;
        let r = match action {
            Action::Step => {
                if next.cursor < next.schedule.len() {
                    next.forward()
                } else if next.read_only {
                    next.notice = Some("End of the schedule (read-only view).".into());
                    Ok(())
                } else {
                    match next.auto_pick() {
                        Some(t) => next.push_step(t),
                        None => {
                            next.notice = Some(next.stuck_notice());
                            Ok(())
                        }
                    }
                }
            }
            Action::StepThread(t) => {
                let m = &self.view.machine;
                if t >= m.threads.len() {
                    return next;
                }
                let name = m.thread_name(t).to_string();
                match m.status(t) {
                    Status::Runnable => {
                        next.selected = Some(t);
                        if next.cursor < next.schedule.len() && next.schedule[next.cursor] == t {
                            next.forward()
                        } else if next.read_only {
                            next.notice = Some(format!(
                                "Read-only view: the schedule steps {} next; open it in mmrace \
                                 to try other interleavings.",
                                next.schedule
                                    .get(next.cursor)
                                    .map(|&u| m.thread_name(u).to_string())
                                    .unwrap_or_else(|| "nothing".into())
                            ));
                            Ok(())
                        } else {
                            next.push_step(t)
                        }
                    }
                    Status::Blocked { reason, .. } => {
                        next.notice = Some(format!("{name} cannot step: it is blocked, {reason}."));
                        Ok(())
                    }
                    Status::Done => {
                        next.notice = Some(format!("{name} has finished."));
                        Ok(())
                    }
                    Status::Killed { addr, code } => {
                        next.notice = Some(format!(
                            "{name} was killed by SIGSEGV ({code}) at {addr:#x}."
                        ));
                        Ok(())
                    }
                }
            }
            Action::Back => {
                if next.cursor == 0 {
                    return next;
                }
                next.cursor -= 1;
                next.recompute()
            }
            Action::Jump(n) => {
                let n = n.min(next.schedule.len());
                if n == next.cursor {
                    return next;
                }
                if n == next.cursor + 1 {
                    next.forward()
                } else {
                    next.cursor = n;
                    next.recompute()
                }
            }
            Action::NextLock => match next.advance_until(|i| i.lock) {
                Ok(true) => Ok(()),
                Ok(false) => {
                    next.notice = Some("No further lock event.".into());
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Action::NextViolation => match next.advance_until(|i| i.new_violation) {
                Ok(true) => Ok(()),
                Ok(false) => {
                    next.notice = Some(if next.read_only || next.view.machine.all_finished() {
                        "No invariant breaks in the rest of this schedule.".into()
                    } else {
                        "No invariant breaks along this interleaving.".into()
                    });
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Action::StepLine => next.step_line(),
            Action::Finish => {
                if next.cursor < next.schedule.len() {
                    next.cursor = next.schedule.len();
                    next.recompute()
                } else if next.read_only {
                    Ok(())
                } else {
                    next.finish()
                }
            }
            Action::Select(t) => {
                let m = &self.view.machine;
                if t < m.threads.len() {
                    next.selected = Some(t);
                    next.notice = Some(format!(
                        "Selected T{t} {}: Enter steps it{}.",
                        m.thread_name(t),
                        if self.read_only {
                            ""
                        } else {
                            "; → steps it after the end of the schedule"
                        }
                    ));
                }
                Ok(())
            }
            Action::StepSelected => {
                return match self.selected {
                    Some(t) => self.apply(Action::StepThread(t)),
                    None => self.apply(Action::Step),
                };
            }
            Action::Load(app) => {
                let ro = self.read_only;
                let mut app = *app;
                app.read_only = ro;
                return app;
            }
            Action::LoadSchedule(schedule, cursor) => next.load_schedule(schedule, cursor),
            Action::ClearNotice => Ok(()),
            Action::ShowError(e) => Err(e),
            Action::ClearError => {
                next.error = None;
                Ok(())
            }
        };
        if let Err(e) = r {
            next.error = Some(e);
        }
        next
    }
}

/// Add the checkpoint at step `i` (unless there is one) keeping the list in step order. An
/// insertion rather than a sort: a sort is one more generic instance in the wasm.
fn insert_checkpoint(cps: &mut Vec<(usize, Machine)>, i: usize, m: Machine) {
    let at = cps.partition_point(|(j, _)| *j < i);
    if cps.get(at).is_none_or(|(j, _)| *j != i) {
        cps.insert(at, (i, m));
    }
}

/// The library entry whose scenario equals `sc`, if any.
pub fn library_source(sc: &Scenario) -> Option<&'static str> {
    library()
        .iter()
        .find(|(_, json)| Scenario::from_json(json).is_ok_and(|s| &s == sc))
        .map(|(p, _)| *p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(path: &str, schedule: Option<&str>) -> App {
        App::from_library(path, schedule).unwrap()
    }

    #[test]
    fn every_library_scenario_and_schedule_loads() {
        for (path, json) in library() {
            let sc = Scenario::from_json(json).unwrap();
            for s in &sc.schedules {
                let a = app(path, Some(&s.name));
                assert_eq!(a.source, Some(*path));
                assert_eq!(a.cursor, 0);
                assert_eq!(a.summary.len(), a.schedule.len());
                let end = a.apply(Action::Jump(usize::MAX));
                assert_eq!(end.cursor, a.schedule.len());
            }
        }
    }

    #[test]
    fn step_and_back_are_a_pure_function_of_the_cursor() {
        let app = App::new(App::default_scenario(), vec![], 0).unwrap();
        let mut a = app.clone();
        for _ in 0..10 {
            a = a.apply(Action::Step);
        }
        assert_eq!(a.cursor, 10);
        let h10 = a.view.machine.state_hash();
        let b = a.apply(Action::Back).apply(Action::Step);
        assert_eq!(b.view.machine.state_hash(), h10);
        let c = a.apply(Action::Jump(0));
        assert_eq!(c.view.machine.state_hash(), app.view.machine.state_hash());
        let d = c.apply(Action::Jump(10));
        assert_eq!(d.view.machine.state_hash(), h10);
    }

    #[test]
    fn forward_jump_and_replay_agree_on_a_long_schedule() {
        let a = app("seed-mprotect-vs-thp-split-v6.4.json", None);
        assert!(a.schedule.len() > 1000, "{}", a.schedule.len());
        let n = a.schedule.len();
        let end = a.apply(Action::Jump(n));
        let (m, _) = sim_core::replay(&a.scenario, &a.schedule).unwrap();
        assert_eq!(end.view.machine.state_hash(), m.state_hash());
        // Step by step over a checkpoint boundary equals a jump.
        let mut s = a.apply(Action::Jump(120));
        for _ in 0..20 {
            s = s.apply(Action::Step);
        }
        let j = a.apply(Action::Jump(140));
        assert_eq!(s.view.machine.state_hash(), j.view.machine.state_hash());
        assert_eq!(
            s.view.last.as_ref().unwrap().explanation,
            j.view.last.as_ref().unwrap().explanation
        );
    }

    #[test]
    fn blocked_thread_refuses_with_a_reason() {
        let a = app(
            "seed-mprotect-vs-migration-v6.4.json",
            Some("migration-waits-on-ptl"),
        );
        let mut s = a.clone();
        while !matches!(s.machine().status(1), Status::Blocked { .. }) {
            s = s.apply(Action::Step);
        }
        let c = s.cursor;
        let t = s.apply(Action::StepThread(1));
        assert_eq!(t.cursor, c);
        assert!(
            t.notice.as_deref().unwrap().contains("blocked"),
            "{:?}",
            t.notice
        );
    }

    #[test]
    fn next_violation_and_next_lock() {
        let a = app("whatif-c-restore-from-stale-entry-v6.4.json", None);
        let v = a.apply(Action::NextViolation);
        assert_eq!(v.cursor, 27, "the counterexample breaks at step 26");
        assert!(v
            .view
            .violated_ids()
            .contains(&sim_core::invariants::WRITABLE_PTE_IN_READONLY_VMA));
        let l = a.apply(Action::NextLock);
        assert!(l.cursor >= 1 && !l.view.last.as_ref().unwrap().locks.is_empty());
        // Past the end of a free schedule, next-lock extends it.
        let free = App::new(App::default_scenario(), vec![], 0).unwrap();
        let l = free.apply(Action::NextLock);
        assert_eq!(l.schedule.len(), l.cursor);
        assert!(!l.view.last.as_ref().unwrap().locks.is_empty());
        let f = free.apply(Action::Finish);
        assert!(f.machine().all_finished());
    }

    #[test]
    fn stepping_off_the_named_schedule_keeps_its_early_notes_only() {
        let a = app("seed-mprotect-vs-migration-v6.4.json", Some("writer-first"));
        assert_eq!(a.named_prefix, a.schedule.len());
        let s = a.apply(Action::StepThread(1));
        assert_eq!(s.schedule.len(), 1);
        assert_eq!(s.named_prefix, 0);
    }

    #[test]
    fn link_round_trip_restores_the_view() {
        let a = app("whatif-c-restore-from-stale-entry-v6.4.json", None).apply(Action::Jump(27));
        let l = a.link();
        let b = App::from_link(Link::decode(&l).unwrap()).unwrap();
        assert_eq!(b.cursor, 27);
        assert_eq!(b.source, a.source);
        assert_eq!(
            b.named.as_ref().map(|n| &n.name),
            a.named.as_ref().map(|n| &n.name)
        );
        assert_eq!(b.view.machine.state_hash(), a.view.machine.state_hash());
    }

    #[test]
    fn author_notes_narrate_their_steps_while_the_schedule_is_followed() {
        let json = sim_core::library::get("seed-mprotect-vs-migration-v6.4.json").unwrap();
        let mut sc = Scenario::from_json(json).unwrap();
        let s = sc
            .schedules
            .iter_mut()
            .find(|s| s.name == "writer-first")
            .unwrap();
        s.notes.insert(0, "The writer goes first.".into());
        s.notes.insert(2, "Third step.".into());
        let mut link = Link::new(sc, vec![], 0);
        link.schedule_name = Some("writer-first".into());
        let named = {
            let l = Link::decode(&link.encode()).unwrap();
            App::from_link(l)
                .unwrap()
                .with_schedule(Some("writer-first"))
                .unwrap()
        };
        assert_eq!(named.note(), None, "no note before the first step");
        let one = named.apply(Action::Step);
        assert_eq!(one.note(), Some("The writer goes first."));
        let three = one.apply(Action::Step).apply(Action::Step);
        assert_eq!(three.note(), Some("Third step."));
        // Off the named schedule, its later notes no longer apply.
        let off = one.apply(Action::StepThread(1));
        assert_eq!(off.note(), None);
        assert_eq!(
            off.apply(Action::Back).note(),
            Some("The writer goes first.")
        );
    }

    #[test]
    fn a_stored_scenario_opens_at_a_step() {
        let json = sim_core::library::get("seed-mprotect-vs-migration-v6.4.json").unwrap();
        let mut sc = Scenario::from_json(json).unwrap();
        sc.title = "<b>stored</b>".into();
        let a = App::from_scenario(sc.clone(), None, 5).unwrap();
        assert_eq!(a.cursor, 5);
        assert_eq!(a.source, None);
        assert_eq!(a.named.as_ref().unwrap().name, sc.schedules[0].name);
        let b = App::from_scenario(sc.clone(), Some("writer-first"), 10_000).unwrap();
        assert_eq!(b.cursor, b.schedule.len());
        assert!(App::from_scenario(sc, Some("nope"), 0).is_err());
    }

    #[test]
    fn step_line_takes_every_action_of_a_line_and_records_each() {
        // restore-after-walk: mprotect's PTE walk meets two writable migration entries in a
        // row; each is one action, and between them its position (the walk's next PTE) stays.
        let a = app(
            "seed-mprotect-vs-migration-v6.4.json",
            Some("restore-after-walk"),
        )
        .apply(Action::Jump(16));
        let t = a.schedule[16];
        let line = a.machine().position(t);
        let l = a.apply(Action::StepLine);
        assert_eq!(l.cursor, 18, "two actions on one line");
        assert!(
            Rc::ptr_eq(&l.schedule, &a.schedule),
            "the loaded schedule is kept"
        );
        assert_eq!(a.apply(Action::Jump(17)).machine().position(t), line);
        assert_ne!(l.machine().position(t), line);
        let j = a.apply(Action::Jump(18));
        assert_eq!(l.machine().state_hash(), j.machine().state_hash());
        assert_eq!(l.apply(Action::Back).cursor, 17, "Back is per action");
        // A line of one action: one step.
        let one = app("mprotect-basic.json", None).apply(Action::StepLine);
        assert_eq!(one.cursor, 1);
    }

    #[test]
    fn step_line_along_every_schedule_and_past_its_end_is_a_pure_function_of_the_cursor() {
        for (path, json) in library() {
            let sc = Scenario::from_json(json).unwrap();
            let Some(first) = sc.schedules.first() else {
                continue;
            };
            let a = app(path, Some(&first.name));
            let mut s = a.clone();
            let mut presses = 0;
            while s.cursor < s.schedule.len() {
                let before = s.cursor;
                let t = s.schedule[before];
                let line = s.machine().position(t);
                s = s.apply(Action::StepLine);
                assert!(
                    s.cursor > before,
                    "{path}: step by line moved from {before}"
                );
                // Every action but the last stayed on the line.
                for k in before + 1..s.cursor {
                    let mid = a.apply(Action::Jump(k));
                    assert_eq!(mid.machine().position(t), line, "{path} at {k}");
                }
                presses += 1;
            }
            assert!(Rc::ptr_eq(&s.schedule, &a.schedule), "{path}");
            assert!(presses <= a.schedule.len());
            // Past the end (free schedule): appends, and the view is the replay.
            let mut f = App::new(sc.clone(), vec![], 0).unwrap();
            for _ in 0..6 {
                f = f.apply(Action::StepLine);
            }
            let (m, _) = sim_core::replay(&f.scenario, &f.schedule).unwrap();
            assert_eq!(f.machine().state_hash(), m.state_hash(), "{path}");
            assert_eq!(f.cursor, f.schedule.len());
            assert_eq!(f.summary.len(), f.schedule.len());
        }
    }

    #[test]
    fn step_line_with_a_selected_thread_leaves_the_schedule_or_says_why_not() {
        let a = app("seed-mprotect-vs-migration-v6.4.json", Some("writer-first"));
        let next = a.schedule[0];
        let other = (0..a.machine().threads.len())
            .find(|&t| t != next && a.machine().is_runnable(t))
            .unwrap();
        let s = a.apply(Action::Select(other)).apply(Action::StepLine);
        assert!(s.cursor >= 1);
        assert_eq!(s.schedule[0], other);
        assert_eq!(
            s.schedule.len(),
            s.cursor,
            "the schedule is cut at the cursor"
        );
        // Read-only: refused with the reason.
        let mut r = a.clone();
        r.read_only = true;
        let r = r.apply(Action::Select(other)).apply(Action::StepLine);
        assert_eq!(r.cursor, 0);
        assert!(
            r.notice.as_deref().unwrap().contains("Read-only"),
            "{:?}",
            r.notice
        );
    }

    #[test]
    fn read_only_stays_on_the_schedule() {
        let mut a = app("seed-mprotect-vs-migration-v6.4.json", Some("writer-first"));
        a.read_only = true;
        let end = a.apply(Action::Jump(usize::MAX));
        let s = end.apply(Action::Step);
        assert_eq!(s.schedule.len(), a.schedule.len());
        assert!(s.notice.is_some());
    }
}
