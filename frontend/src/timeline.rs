//! The timeline: the schedule as per-thread swim lanes on one canvas (cheap for 100 000
//! steps: when there are more steps than pixels, steps are aggregated per pixel column), the
//! cursor, violations (top band, red) and lock events (bottom band). Click or drag to jump;
//! it is also a keyboard slider.
//!
//! The canvas is redrawn only when the schedule, the theme or the size changes; the cursor
//! (the dimmed future, the cursor line, the outlined step) is a small SVG laid over it, so a
//! step does not re-rasterise the whole canvas (the render bench measured that as about a
//! quarter of a step's time).

use std::rc::Rc;

use wasm_bindgen::JsCast;
use yew::prelude::*;

use crate::state::StepInfo;

#[derive(Properties)]
pub struct TimelineProps {
    pub schedule: Rc<Vec<usize>>,
    pub summary: Rc<Vec<StepInfo>>,
    pub cursor: usize,
    pub names: Rc<Vec<String>>,
    /// Changes when the theme or layout changes, to redraw with the new colours/size.
    pub look: String,
    pub on_jump: Callback<usize>,
}

impl PartialEq for TimelineProps {
    fn eq(&self, o: &Self) -> bool {
        Rc::ptr_eq(&self.schedule, &o.schedule)
            && Rc::ptr_eq(&self.summary, &o.summary)
            && self.cursor == o.cursor
            && self.names == o.names
            && self.look == o.look
    }
}

/// Top band (violations) and bottom band (lock events), in CSS pixels.
const BAND: f64 = 5.0;

#[function_component(Timeline)]
pub fn timeline(p: &TimelineProps) -> Html {
    let canvas = use_node_ref();
    let resized = use_state(|| 0u32);
    let dragging = use_mut_ref(|| false);
    // Colours and canvas size, re-read only when the theme, layout or window size changes
    // (reading them forces a style recalculation / layout).
    let cache = use_mut_ref(|| None::<((String, u32), Colors, (f64, f64))>);
    // The canvas's CSS size as last measured, for the cursor overlay's coordinates.
    let size = use_state(|| (0i64, 0i64));

    // Redraw on window resize.
    {
        let resized = resized.clone();
        use_effect_with((), move |_| {
            use wasm_bindgen::closure::Closure;
            let counter = std::rc::Rc::new(std::cell::Cell::new(0u32));
            let cb = Closure::<dyn Fn()>::new(move || {
                counter.set(counter.get().wrapping_add(1));
                resized.set(counter.get());
            });
            let w = web_sys::window();
            if let Some(w) = &w {
                let _ = w.add_event_listener_with_callback("resize", cb.as_ref().unchecked_ref());
            }
            move || {
                if let Some(w) = w {
                    let _ = w
                        .remove_event_listener_with_callback("resize", cb.as_ref().unchecked_ref());
                }
                drop(cb);
            }
        });
    }

    {
        let canvas = canvas.clone();
        let deps = (
            Rc::as_ptr(&p.schedule) as usize,
            Rc::as_ptr(&p.summary) as usize,
            p.summary.len(),
            p.names.len(),
            p.look.clone(),
            *resized,
        );
        let summary = p.summary.clone();
        let lanes = p.names.len();
        let cache = cache.clone();
        let size_state = size.clone();
        use_effect_with(deps, move |deps| {
            if let Some(c) = canvas.cast::<web_sys::HtmlCanvasElement>() {
                let key = (deps.4.clone(), deps.5);
                let cached = cache
                    .borrow()
                    .as_ref()
                    .filter(|(k, _, size)| *k == key && size.0 > 0.0)
                    .map(|(_, c, size)| (c.clone(), *size));
                let got = match cached {
                    Some(c) => Some(c),
                    None => {
                        let size = (c.client_width() as f64, c.client_height() as f64);
                        let fresh = colors(&c).map(|f| (f, size));
                        if let Some((f, size)) = &fresh {
                            *cache.borrow_mut() = Some((key, f.clone(), *size));
                        }
                        fresh
                    }
                };
                if let Some((col, size)) = got {
                    draw(&c, &col, size, &summary, lanes);
                    let px = (size.0 as i64, size.1 as i64);
                    if *size_state != px {
                        size_state.set(px);
                    }
                }
            }
        });
    }

    let n = p.summary.len();
    let jump_at = {
        let canvas = canvas.clone();
        let on_jump = p.on_jump.clone();
        move |x: f64| {
            if let Some(c) = canvas.cast::<web_sys::HtmlCanvasElement>() {
                let r = c.get_bounding_client_rect();
                let w = r.width().max(1.0);
                let f = ((x - r.left()) / w).clamp(0.0, 1.0);
                // Clicking inside step i's tick shows the state after step i.
                let step = (f * n as f64).ceil() as usize;
                on_jump.emit(step.min(n));
            }
        }
    };
    let onpointerdown = {
        let jump_at = jump_at.clone();
        let dragging = dragging.clone();
        Callback::from(move |e: PointerEvent| {
            if e.button() != 0 {
                return;
            }
            *dragging.borrow_mut() = true;
            if let Some(t) = e
                .target()
                .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
            {
                let _ = t.set_pointer_capture(e.pointer_id());
            }
            jump_at(e.client_x() as f64);
        })
    };
    let onpointermove = {
        let jump_at = jump_at.clone();
        let dragging = dragging.clone();
        Callback::from(move |e: PointerEvent| {
            if *dragging.borrow() && e.buttons() & 1 != 0 {
                jump_at(e.client_x() as f64);
            }
        })
    };
    let onpointerup = {
        let dragging = dragging.clone();
        Callback::from(move |_e: PointerEvent| {
            *dragging.borrow_mut() = false;
        })
    };
    let onkeydown = {
        let on_jump = p.on_jump.clone();
        let cursor = p.cursor;
        Callback::from(move |e: KeyboardEvent| {
            let to = match e.key().as_str() {
                "ArrowUp" => cursor.saturating_add(10),
                "ArrowDown" => cursor.saturating_sub(10),
                _ => return,
            };
            e.prevent_default();
            e.stop_propagation();
            on_jump.emit(to.min(n));
        })
    };
    let violations = p.summary.iter().filter(|s| s.new_violation).count();
    let label = format!(
        "Timeline: step {} of {n}{}",
        p.cursor,
        if violations > 0 {
            format!(", {violations} step(s) break an invariant")
        } else {
            String::new()
        }
    );
    let overlay = cursor_overlay(*size, &p.summary, p.cursor, p.names.len());
    html! {
        <div class="timeline" data-steps={n.to_string()}>
            <div class="lane-names" aria-hidden="true">
                { for p.names.iter().enumerate().map(|(t, name)| html! {
                    <span class={classes!("lane-name", crate::panels::tclass(t))} title={name.clone()}>{ format!("T{t} {}", crate::panels::short_name(name, t)) }</span>
                }) }
            </div>
            <div class="tl-box">
            <canvas ref={canvas} id="timeline" class={classes!(format!("lanes-{}", p.names.len()))}
                    tabindex="0" role="slider" aria-label={label.clone()} title="Click or drag to jump; ↑/↓ jump by 10 steps"
                    aria-valuemin="0" aria-valuemax={n.to_string()} aria-valuenow={p.cursor.to_string()}
                    aria-valuetext={label}
                    {onpointerdown} {onpointermove} {onpointerup} {onkeydown}></canvas>
            { overlay }
            </div>
        </div>
    }
}

fn css(style: &web_sys::CssStyleDeclaration, name: &str, fallback: &str) -> String {
    let v = style.get_property_value(name).unwrap_or_default();
    let v = v.trim();
    if v.is_empty() {
        fallback.to_string()
    } else {
        v.to_string()
    }
}

/// The theme's colours, read from CSS custom properties (once per theme/layout change:
/// `getComputedStyle` forces a style recalculation).
#[derive(Clone)]
pub struct Colors {
    bg: String,
    grid: String,
    bad: String,
    fg: String,
    muted: String,
    lanes: Vec<String>,
}

fn colors(c: &web_sys::HtmlCanvasElement) -> Option<Colors> {
    let style = web_sys::window()?.get_computed_style(c).ok()??;
    Some(Colors {
        bg: css(&style, "--tl-bg", "#f4f4f2"),
        grid: css(&style, "--border", "#ccc"),
        bad: css(&style, "--bad", "#c00"),
        fg: css(&style, "--fg", "#000"),
        muted: css(&style, "--muted", "#666"),
        lanes: (0..8)
            .map(|i| css(&style, &format!("--lane-{i}"), "#36c"))
            .collect(),
    })
}

/// Call `f(start, end)` for every maximal run of units in `range` where `on(unit)` holds.
fn runs(
    range: std::ops::Range<usize>,
    on: impl Fn(usize) -> bool,
    mut f: impl FnMut(usize, usize),
) {
    let mut start = None;
    for u in range.clone() {
        match (on(u), start) {
            (true, None) => start = Some(u),
            (false, Some(s)) => {
                f(s, u);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        f(s, range.end);
    }
}

/// Draw the lanes. Cost: one canvas call per run of equal cells (not per step), so a
/// schedule of 100 000 steps draws in about the time of a few hundred rectangles.
fn draw(
    c: &web_sys::HtmlCanvasElement,
    col: &Colors,
    (cw, ch): (f64, f64),
    summary: &[StepInfo],
    lanes: usize,
) {
    let Some(win) = web_sys::window() else { return };
    let dpr = win.device_pixel_ratio().max(1.0);
    if cw <= 0.0 || ch <= 0.0 {
        return;
    }
    let (pw, ph) = ((cw * dpr).round() as u32, (ch * dpr).round() as u32);
    if c.width() != pw {
        c.set_width(pw);
    }
    if c.height() != ph {
        c.set_height(ph);
    }
    let Ok(Some(ctx)) = c.get_context("2d") else {
        return;
    };
    let Ok(ctx) = ctx.dyn_into::<web_sys::CanvasRenderingContext2d>() else {
        return;
    };
    let _ = ctx.set_transform(dpr, 0.0, 0.0, dpr, 0.0, 0.0);
    ctx.set_global_alpha(1.0);
    ctx.set_fill_style_str(&col.bg);
    ctx.fill_rect(0.0, 0.0, cw, ch);
    let lanes = lanes.max(1);
    let lane_h = ((ch - 2.0 * BAND) / lanes as f64).max(2.0);
    let lane_y = |t: usize| BAND + t as f64 * lane_h;
    ctx.set_fill_style_str(&col.grid);
    for t in 1..lanes {
        ctx.fill_rect(0.0, lane_y(t) - 0.5, cw, 1.0);
    }
    let n = summary.len();
    if n == 0 {
        ctx.set_fill_style_str(&col.muted);
        ctx.set_font("12px system-ui, sans-serif");
        let _ = ctx.fill_text(
            "No schedule loaded: → steps the selected (or first runnable) thread.",
            8.0,
            ch / 2.0 + 4.0,
        );
        return;
    }
    // Units: steps when each gets a pixel or more, else pixel columns (a column ORs its steps).
    let step_w = cw / n as f64;
    let (units, unit_w) = if step_w >= 1.0 {
        (n, step_w)
    } else {
        (cw.floor().max(1.0) as usize, cw / cw.floor().max(1.0))
    };
    let unit_of = |i: usize| {
        if units == n {
            i
        } else {
            (i * units / n).min(units - 1)
        }
    };
    let mut lane_bits = vec![0u8; units];
    let mut viol = vec![0u8; units];
    let mut lock = vec![false; units];
    for (i, s) in summary.iter().enumerate() {
        let u = unit_of(i);
        lane_bits[u] |= 1 << (s.thread % 8);
        if s.new_violation {
            viol[u] = 2;
        } else if s.violated && viol[u] == 0 {
            viol[u] = 1;
        }
        lock[u] |= s.lock;
    }
    // With wide ticks, leave a hairline between steps.
    let gap = if unit_w >= 4.0 { 1.0 } else { 0.0 };
    let x = |u: usize| u as f64 * unit_w;
    for t in 0..lanes.min(8) {
        ctx.set_fill_style_str(&col.lanes[t]);
        runs(
            0..units,
            |u| lane_bits[u] & (1 << t) != 0,
            |a, b| {
                if gap > 0.0 {
                    for u in a..b {
                        ctx.fill_rect(x(u), lane_y(t) + 1.0, unit_w - gap, lane_h - 2.0);
                    }
                } else {
                    ctx.fill_rect(x(a), lane_y(t) + 1.0, x(b) - x(a), lane_h - 2.0);
                }
            },
        );
    }
    ctx.set_fill_style_str(&col.fg);
    ctx.set_global_alpha(0.8);
    runs(
        0..units,
        |u| lock[u],
        |a, b| {
            for u in a..b {
                let w = (unit_w * 0.5).clamp(1.0, 4.0);
                ctx.fill_rect(x(u) + (unit_w - w) / 2.0, ch - BAND + 1.0, w, BAND - 2.0);
            }
        },
    );
    ctx.set_fill_style_str(&col.bad);
    for (level, alpha) in [(1u8, 0.45), (2, 1.0)] {
        ctx.set_global_alpha(alpha);
        runs(
            0..units,
            |u| viol[u] == level,
            |a, b| {
                ctx.fill_rect(x(a), 0.0, (x(b) - x(a) - gap).max(1.0), BAND);
            },
        );
    }
    ctx.set_global_alpha(1.0);
}

/// The cursor over the canvas, in the canvas's CSS pixels (`size`): the steps after the
/// cursor dimmed (a veil of the background colour), the step on screen outlined in its lane,
/// and the cursor line with its marker. Integer coordinates: no float formatting in the wasm.
fn cursor_overlay(size: (i64, i64), summary: &[StepInfo], cursor: usize, lanes: usize) -> Html {
    let (cw, ch) = size;
    let n = summary.len() as i64;
    if cw <= 0 || ch <= 0 || n == 0 {
        return html! {};
    }
    let cursor = cursor.min(summary.len());
    let x = |i: usize| i as i64 * cw / n;
    let cx = x(cursor).min(cw - 1);
    let band = BAND as i64;
    let lane_h = ((ch - 2 * band) / lanes.max(1) as i64).max(2);
    // The step on screen, outlined when its tick is wide enough to see.
    let outline = (cursor > 0 && cw >= 3 * n).then(|| {
        let t = summary[cursor - 1].thread as i64;
        let x0 = x(cursor - 1);
        html! {
            <rect class="tl-step" x={(x0 + 1).to_string()} y={(band + t * lane_h + 1).to_string()}
                  width={(x(cursor) - x0 - 2).max(1).to_string()} height={(lane_h - 2).max(1).to_string()} />
        }
    });
    html! {
        <svg class="tl-cursor" viewBox={format!("0 0 {cw} {ch}")} preserveAspectRatio="none" aria-hidden="true">
            <rect class="tl-future" x={cx.to_string()} y={band.to_string()} width={(cw - cx).to_string()} height={(ch - band).to_string()} />
            { for outline }
            <rect class="tl-line" x={(cx - 1).to_string()} y="0" width="2" height={ch.to_string()} />
            <path class="tl-line" d={format!("M{} 0L{} 0L{cx} 6Z", cx - 5, cx + 5)} />
        </svg>
    }
}
