//! The app state as a reducer: (scenario, schedule, cursor) plus view preferences.
//! Everything shown is derived from these by replaying sim-core.

use std::rc::Rc;

use sim_core::{Machine, Scenario, StepRecord};

/// The scenario shown when the page is opened without a link.
pub const DEFAULT_SCENARIO: &str = include_str!("../../assets/scenarios/mprotect-basic.json");

/// Replay checkpoints: a machine clone every this many steps, so that jumping anywhere
/// replays at most this many steps.
const CHECKPOINT_EVERY: usize = 64;

#[derive(Clone)]
pub struct App {
    pub scenario: Rc<Scenario>,
    /// The initial machine (validated once).
    pub initial: Rc<Machine>,
    /// Which thread takes each step.
    pub schedule: Rc<Vec<usize>>,
    /// How many steps of the schedule are applied.
    pub cursor: usize,
    /// The thread → key / click steps when past the end of the schedule.
    pub selected: Option<usize>,
    /// Derived: the machine at the cursor and the record of the step that led to it.
    pub view: Rc<View>,
    /// Checkpoints (step index → machine), valid for the current schedule prefix.
    checkpoints: Rc<Vec<(usize, Machine)>>,
    pub error: Option<String>,
}

/// What the panels render.
pub struct View {
    pub machine: Machine,
    pub last: Option<StepRecord>,
}

impl PartialEq for App {
    fn eq(&self, o: &Self) -> bool {
        Rc::ptr_eq(&self.scenario, &o.scenario)
            && Rc::ptr_eq(&self.schedule, &o.schedule)
            && self.cursor == o.cursor
            && self.selected == o.selected
            && self.error == o.error
    }
}

pub enum Action {
    /// → : next step of the loaded schedule, or past its end the selected (or first
    /// runnable) thread.
    Step,
    /// Step thread `t` now (the user is the scheduler); truncates the schedule here.
    StepThread(usize),
    Back,
    Jump(usize),
    Reset,
    Select(usize),
}

impl App {
    pub fn default_scenario() -> Scenario {
        Scenario::from_json(DEFAULT_SCENARIO).expect("the default scenario is valid")
    }

    pub fn new(scenario: Scenario, schedule: Vec<usize>, cursor: usize) -> Result<App, String> {
        let initial = scenario.build().map_err(|e| e.to_string())?;
        let mut app = App {
            scenario: Rc::new(scenario),
            initial: Rc::new(initial.clone()),
            schedule: Rc::new(schedule),
            cursor: 0,
            selected: None,
            view: Rc::new(View {
                machine: initial.clone(),
                last: None,
            }),
            checkpoints: Rc::new(vec![(0, initial)]),
            error: None,
        };
        app.cursor = cursor.min(app.schedule.len());
        app.recompute()?;
        Ok(app)
    }

    /// Replay to the cursor, starting from the nearest checkpoint.
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
            let rec = if i + 1 == self.cursor {
                m.step(t)
            } else {
                m.step_quiet(t).map(|_| empty_record())
            };
            let rec = rec.map_err(|e| format!("step {i}: {e}"))?;
            if (i + 1) % CHECKPOINT_EVERY == 0 {
                new_cps.push((i + 1, m.clone()));
            }
            if i + 1 == self.cursor {
                last = Some(rec);
            }
        }
        if !new_cps.is_empty() {
            let mut cps = (*self.checkpoints).clone();
            for (i, c) in new_cps {
                if !cps.iter().any(|(j, _)| *j == i) {
                    cps.push((i, c));
                }
            }
            cps.sort_by_key(|(i, _)| *i);
            self.checkpoints = Rc::new(cps);
        }
        self.view = Rc::new(View { machine: m, last });
        Ok(())
    }

    /// Apply an action; returns the new state (the reducer).
    pub fn apply(&self, action: Action) -> App {
        let mut next = self.clone();
        let r = match action {
            Action::Step => {
                if next.cursor < next.schedule.len() {
                    next.cursor += 1;
                    next.recompute()
                } else {
                    let m = &self.view.machine;
                    let pick = self
                        .selected
                        .filter(|&t| m.is_runnable(t))
                        .or_else(|| m.runnable().first().copied());
                    match pick {
                        Some(t) => next.push_step(t),
                        None => return next,
                    }
                }
            }
            Action::StepThread(t) => {
                if !self.view.machine.is_runnable(t) {
                    return next;
                }
                next.selected = Some(t);
                if next.cursor < next.schedule.len() && next.schedule[next.cursor] == t {
                    next.cursor += 1;
                    next.recompute()
                } else {
                    next.push_step(t)
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
                next.cursor = n.min(next.schedule.len());
                next.recompute()
            }
            Action::Reset => {
                next.cursor = 0;
                next.recompute()
            }
            Action::Select(t) => {
                if t < next.initial.threads.len() {
                    next.selected = Some(t);
                }
                Ok(())
            }
        };
        next.error = r.err();
        next
    }

    /// Truncate the schedule at the cursor and append a step of thread `t`.
    fn push_step(&mut self, t: usize) -> Result<(), String> {
        let mut s = (*self.schedule).clone();
        s.truncate(self.cursor);
        s.push(t);
        // Checkpoints beyond the cursor belong to the old schedule.
        let cur = self.cursor;
        let cps: Vec<(usize, Machine)> = self
            .checkpoints
            .iter()
            .filter(|(i, _)| *i <= cur)
            .cloned()
            .collect();
        self.checkpoints = Rc::new(cps);
        self.schedule = Rc::new(s);
        self.cursor += 1;
        self.recompute()
    }
}

fn empty_record() -> StepRecord {
    StepRecord {
        index: 0,
        thread: 0,
        op: String::new(),
        line: sim_core::record::LineRef {
            listing: sim_core::record::Listing::Access,
            line: 0,
        },
        func: "",
        file: "",
        line_text: "",
        explanation: String::new(),
        locks: Vec::new(),
        changes: Vec::new(),
        events: Vec::new(),
        violations: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let c = a.apply(Action::Reset);
        assert_eq!(c.view.machine.state_hash(), app.view.machine.state_hash());
        let d = c.apply(Action::Jump(10));
        assert_eq!(d.view.machine.state_hash(), h10);
    }
}
