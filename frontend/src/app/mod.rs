//! The root component: the stepper's reducer and the view state, wired to the browser by
//! hooks (`hooks.rs`: URL/link sync, pasted links, keyboard, ...), and the layout — header,
//! banners, narration, threads, state panels, transport + timeline — from views
//! (`views.rs`) and panels (`crate::panels`). Presentation mode, themes, help and the embed
//! view are view state (`ui.rs`).

mod boot;
mod hooks;
mod keys;
mod share;
mod ui;
mod views;

use std::rc::Rc;

use yew::prelude::*;

use crate::explore;
use crate::panels::{self, Changed, Threads};
use crate::state::Action;
use crate::tables::PageTables;
use hooks::{
    use_current_lines_in_view, use_hash_navigation, use_keyboard, use_link_sync, use_ready_marker,
    use_stored_scenario,
};
use ui::{Theme, Ui};

#[function_component(App)]
pub fn app() -> Html {
    let booted = use_mut_ref(|| Some(boot::boot()));
    let state = use_reducer(|| {
        booted
            .borrow()
            .as_ref()
            .map(|(a, _, _)| a.clone())
            .expect("booted once")
    });
    let stored = use_state(|| booted.borrow().as_ref().and_then(|(_, _, s)| s.clone()));
    let explore_req = use_reducer(explore::Requests::default);
    // `#library` loads the full bundle (boot.js), the only one with the library page.
    let library =
        use_state(|| cfg!(feature = "authoring") && crate::dom::hash() == crate::dom::LIBRARY_HASH);
    // The full bundle is loaded with `?author` to open the author panel (see `authoring_buttons`).
    #[cfg(feature = "authoring")]
    let authoring = use_state(crate::dom::take_author_request);
    #[cfg(not(feature = "authoring"))]
    let authoring = use_state(|| false);
    let ui = use_reducer(|| Ui::new(booted.borrow_mut().take().and_then(|(_, e, _)| e)));

    use_stored_scenario(stored.clone(), state.dispatcher(), ui.dispatcher());
    use_ready_marker();
    // Theme and presentation on <html>, set while rendering (not in an effect) so that
    // children's effects — the timeline reads colours — already see them.
    crate::dom::set_root_attr(
        "data-theme",
        (ui.theme() != Theme::Auto).then_some(ui.theme().name()),
    );
    crate::dom::set_root_attr("data-presentation", ui.presentation.then_some("1"));
    let link = use_link_sync(&state, *library);
    use_hash_navigation(state.dispatcher(), ui.dispatcher(), library.setter());
    use_keyboard(state.dispatcher(), ui.dispatcher());
    use_current_lines_in_view();
    // Focus the help dialog's close button when it opens.
    use_effect_with(ui.help, |open| {
        if *open {
            crate::dom::focus("help-close");
        }
    });
    let step_thread = {
        let s = state.dispatcher();
        Callback::from(move |t: usize| s.dispatch(Action::StepThread(t)))
    };

    let m = state.machine();
    let v = &state.view;
    let changed = Changed::of(m, v.last.as_ref());
    let names: Rc<Vec<String>> = Rc::new(m.spec.threads.iter().map(|t| t.name.clone()).collect());
    let violated = !v.violated_ids().is_empty();
    let live = views::live_text(&state);
    let look = format!("{}-{}-{}", ui.theme().name(), ui.presentation, names.len());

    let mut root = classes!("app");
    if ui.presentation {
        root.push("presentation");
    }
    if ui.embed {
        root.push("embed");
    }
    if violated {
        root.push("violated");
    }
    // In the lean bundle `authoring` only means "the full bundle is loading".
    let show_authoring =
        cfg!(feature = "authoring") && *authoring && !ui.presentation && !ui.embed && !*library;
    if show_authoring {
        root.push("authoring-open");
    }

    html! {
        <div class={root} data-cursor={state.cursor.to_string()}
             data-state-hash={format!("{:016x}", m.state_hash())}>
            { if ui.embed { views::embed_header(&state, &link) } else { views::header(&state, &ui, &link, &explore_req, views::authoring_buttons(&library, &authoring)) } }
            { views::banners(&state, &ui, (*stored).as_ref(), &explore_req) }
            { if *library { views::library_page(&state, &library) } else { html! { <>
            { for show_authoring.then(|| views::authoring_panel(&state)) }
            { panels::narration(&state) }
            <div id="live" class="sr-only" aria-live="polite" aria-atomic="true">{ live }</div>
            <main class="main">
                <Threads app={Rc::new((*state).clone())} on_step={step_thread} />
                <div class="state">
                    <div class="col col-mem">
                        { panels::vmas(m, &changed) }
                        <PageTables view={v.clone()} />
                    </div>
                    <div class="col col-locks">
                        { panels::locks(m, &changed) }
                        { panels::tlbs(m, &changed) }
                    </div>
                    <div class="col col-inv">
                        { panels::invariants(m, v) }
                        { panels::folios(m, &changed) }
                    </div>
                </div>
            </main>
            { views::transport(&state, names, look) }
            </> } } }
            { if ui.help { views::help(&ui) } else { html! {} } }
        </div>
    }
}
