//! "Record" (save the schedule on screen into the scenario, and follow it) and narration
//! notes attached to a saved schedule's steps.

use sim_core::link::Link;
use sim_core::scenario::{NamedSchedule, Steps};
use sim_core::Scenario;

use crate::state::App;

/// Is `name` usable as a schedule name (what the litmus format and the limits take)?
pub fn check_schedule_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("Name the schedule first.".into());
    }
    if name.chars().count() > 64 {
        return Err("A schedule name has at most 64 characters.".into());
    }
    if name.chars().any(char::is_control) {
        return Err("A schedule name cannot contain control characters.".into());
    }
    Ok(())
}

/// "Record": save the schedule on screen into the scenario under `name`, and follow it from
/// now on. The cursor stays where it is. Saving under the name of the schedule being
/// followed updates it (its notes are kept for the steps that still exist); any other
/// schedule's name is refused, so a recording never silently replaces someone's schedule.
pub fn save_schedule(app: &App, name: &str) -> Result<App, String> {
    let name = name.trim();
    check_schedule_name(name)?;
    if app.schedule.is_empty() {
        return Err("Nothing to save yet: step some threads first (click a thread).".into());
    }
    let following = app.named.as_ref().map(|n| n.name.as_str());
    if following != Some(name) && app.scenario.schedule(name).is_some() {
        return Err(format!(
            "Schedule name: \"{name}\" is another schedule of this scenario; choose a new name \
             (to update \"{name}\", open it from the schedule menu and record over it)."
        ));
    }
    let mut sc = (*app.scenario).clone();
    let steps = (*app.schedule).clone();
    match sc.schedules.iter_mut().find(|s| s.name == name) {
        Some(s) => {
            s.steps = Steps::List(steps.clone());
            s.notes.retain(|k, _| *k < steps.len());
            // A recorded schedule is not the one whose expectation was checked.
            s.expect = None;
        }
        None => {
            if sc.schedules.len() >= 64 {
                return Err("The scenario already has 64 schedules.".into());
            }
            sc.schedules.push(NamedSchedule {
                name: name.to_string(),
                description: String::new(),
                steps: Steps::List(steps.clone()),
                expect: None,
                notes: sim_core::vec_map::VecMap::new(),
            });
        }
    }
    rebuild(app, sc, name)
}

/// The named schedule whose step is on screen, if notes can attach to it: the schedule
/// still follows it up to the cursor, and a step has been taken.
pub fn note_target(app: &App) -> Option<(&str, usize)> {
    let n = app.named.as_ref()?;
    let k = app.cursor.checked_sub(1)?;
    (k < app.named_prefix).then_some((n.name.as_str(), k))
}

/// Attach `text` as the note of the step on screen (empty removes it).
pub fn set_note(app: &App, text: &str) -> Result<App, String> {
    let Some((name, k)) = note_target(app) else {
        return Err(if app.cursor == 0 {
            "Notes attach to a step: step forward first.".into()
        } else {
            "Notes attach to a step of a saved schedule: save this schedule first.".into()
        });
    };
    let name = name.to_string();
    let mut sc = (*app.scenario).clone();
    let s = sc
        .schedules
        .iter_mut()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("the scenario has no schedule `{name}`"))?;
    let text = text.trim();
    if text.is_empty() {
        s.notes.remove(&k);
    } else {
        s.notes.insert(k, text.to_string());
    }
    rebuild(app, sc, &name)
}

/// The app for the changed scenario with the same schedule on screen, now following `name`.
fn rebuild(app: &App, sc: Scenario, name: &str) -> Result<App, String> {
    sc.build().map_err(|e| e.to_string())?;
    let mut l = Link::new(sc, (*app.schedule).clone(), app.cursor);
    l.schedule_name = Some(name.to_string());
    let mut next = App::from_link(l)?;
    next.read_only = app.read_only;
    next.selected = app.selected;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Action;
    use sim_core::litmus;

    #[test]
    fn record_a_schedule_and_narrate_it_then_the_link_carries_the_notes() {
        let free = App::from_library("seed-mprotect-vs-migration-v6.4.json", None)
            .unwrap()
            .with_schedule(None)
            .unwrap();
        assert!(save_schedule(&free, "mine").is_err(), "nothing stepped yet");
        let mut a = free.clone();
        for t in [1, 1, 0, 0, 2] {
            a = a.apply(Action::StepThread(t));
        }
        assert!(set_note(&a, "x").is_err(), "not saved yet");
        assert!(save_schedule(&a, " ").is_err());
        let saved = save_schedule(&a, "mine").unwrap();
        assert_eq!(saved.cursor, 5);
        assert_eq!(saved.named.as_ref().unwrap().name, "mine");
        assert_eq!(
            saved.scenario.schedule("mine").unwrap().steps,
            Steps::List(vec![1, 1, 0, 0, 2])
        );
        let one = saved.apply(Action::Jump(1));
        let noted = set_note(&one, "  The migration starts.  ").unwrap();
        assert_eq!(noted.note(), Some("The migration starts."));
        let noted = set_note(&noted.apply(Action::Jump(4)), "Fourth.").unwrap();
        // The link of what is on screen carries the notes.
        let back = App::from_link(Link::decode(&noted.link()).unwrap()).unwrap();
        assert_eq!(back.note(), Some("Fourth."));
        assert_eq!(
            back.apply(Action::Jump(1)).note(),
            Some("The migration starts.")
        );
        // Removing a note; re-saving a shorter schedule drops notes past its end.
        let removed = set_note(&back, "").unwrap();
        assert_eq!(removed.note(), None);
        let short = back.apply(Action::Jump(2)).apply(Action::StepThread(2));
        assert_eq!(*short.schedule, [1, 1, 2]);
        let resaved = save_schedule(&short, "mine").unwrap();
        let notes = &resaved.scenario.schedule("mine").unwrap().notes;
        assert_eq!(notes.keys().copied().collect::<Vec<_>>(), [0]);
        // bug_saving_under_an_existing_name_replaces_it: another schedule's name is refused
        // and the scenario keeps that schedule as it was.
        let Err(e) = save_schedule(&short, "writer-first") else {
            panic!("saving under another schedule's name was accepted");
        };
        assert!(e.contains("\"writer-first\" is another schedule"), "{e}");
        assert_eq!(
            short.scenario.schedule("writer-first"),
            back.scenario.schedule("writer-first")
        );
        // The text form shows them.
        let text = litmus::print(&noted.scenario);
        assert!(text.contains("note 3 \"Fourth.\""), "{text}");
    }
}
