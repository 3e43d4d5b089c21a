//! Drawing one step as SVG: a fixed 1280×720 layout in the presentation (high-contrast)
//! theme of `frontend/static/style.css`, text in one monospace font so that widths are exact
//! (every glyph advances 0.6021 em) and wrapping needs no measuring.
//!
//! Layout, top to bottom: header (title, kernel, step N/M); narration (thread, kernel
//! function, the step's explanation, the author's note); one column per thread; VMAs and page
//! tables (left) beside locks and TLBs (right); the invariants strip. Every list has a height
//! budget and ends in "… N more" when it overflows, so nothing is drawn off the canvas.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use sim_core::flags::{decode_vm_flags, VM_EXEC, VM_READ, VM_WRITE};
use sim_core::invariants;
use sim_core::machine::Status;
use sim_core::pte::{self, EntryKind, Level};
use sim_core::record::{Change, LineRef, LockEvent};
use sim_core::runs;
use sim_core::state::LockId;
use sim_core::{Machine, Scenario, StepRecord};

use crate::Size;

/// Presentation theme (`[data-theme="contrast"]` / `.app.presentation` in style.css).
mod c {
    pub const BG: &str = "#ffffff";
    pub const FG: &str = "#000000";
    pub const MUTED: &str = "#222222";
    pub const OFF: &str = "#555555";
    pub const BORDER: &str = "#000000";
    pub const ACCENT: &str = "#0033aa";
    pub const CHANGED: &str = "#ffe600";
    pub const ON_BG: &str = "#8ff0a4";
    pub const BAD: &str = "#ffffff";
    pub const BAD_BG: &str = "#c00000";
    pub const WARN_BG: &str = "#ffb000";
    pub const TOL_BG: &str = "#ffd34d";
    pub const HYP: &str = "#ffffff";
    pub const HYP_BG: &str = "#7a0066";
    /// Historical variants (a real kernel before a fix): dark amber, 7.5:1 with white.
    pub const HIST: &str = "#ffffff";
    pub const HIST_BG: &str = "#7a4a00";
    pub const CUR_BG: &str = "#0033aa";
    pub const CUR_FG: &str = "#ffffff";
    pub const LANES: [&str; 8] = [
        "#0033aa", "#c04000", "#6a00a8", "#006b4f", "#a0005a", "#3d5a00", "#6b3a00", "#00507a",
    ];
}

const W: f64 = 1280.0;
const H: f64 = 720.0;
const MARGIN: f64 = 16.0;
/// DejaVu Sans Mono's advance width: 1233 / 2048 em.
const ADVANCE: f64 = 1233.0 / 2048.0;

pub struct Frame<'a> {
    pub scenario: &'a Scenario,
    pub machine: &'a Machine,
    pub last: Option<&'a StepRecord>,
    pub step: usize,
    pub total: usize,
    pub note: Option<&'a str>,
    pub size: Size,
    pub embed_font: bool,
}

fn cw(size: u32) -> f64 {
    size as f64 * ADVANCE
}

fn text_w(s: &str, size: u32) -> f64 {
    s.chars().count() as f64 * cw(size)
}

/// At most as many characters as fit in `width`, with `…` when cut.
fn fit(s: &str, size: u32, width: f64) -> String {
    let max = (width / cw(size)).floor().max(1.0) as usize;
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().take(max - 1).chain(['…']).collect()
    }
}

/// Greedy word wrap into at most `max_lines` lines of `width`; the last line is cut with `…`.
fn wrap(s: &str, size: u32, width: f64, max_lines: usize) -> Vec<String> {
    let max = (width / cw(size)).floor().max(2.0) as usize;
    let mut lines: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut words = s.split_whitespace().peekable();
    while let Some(word) = words.next() {
        let mut word = word.to_string();
        loop {
            let need = cur.chars().count() + usize::from(!cur.is_empty()) + word.chars().count();
            if need <= max {
                if !cur.is_empty() {
                    cur.push(' ');
                }
                cur.push_str(&word);
                break;
            }
            if cur.is_empty() {
                // A word longer than a line: break it.
                let head: String = word.chars().take(max).collect();
                word = word.chars().skip(max).collect();
                lines.push(head);
            } else {
                lines.push(std::mem::take(&mut cur));
            }
            if lines.len() == max_lines {
                break;
            }
        }
        if lines.len() == max_lines {
            // Out of lines: mark the cut on the last one.
            if let Some(l) = lines.last_mut() {
                *l = fit(&format!("{l} …"), size, width);
                if !l.ends_with('…') {
                    l.push('…');
                }
            }
            return lines;
        }
        let _ = words.peek();
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

/// The SVG being written.
struct Doc {
    s: String,
}

impl Doc {
    fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, stroke: Option<(&str, f64)>) {
        let _ = write!(
            self.s,
            r#"<rect x="{x:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{fill}""#,
            w.max(0.0),
            h.max(0.0)
        );
        if let Some((s, sw)) = stroke {
            let _ = write!(self.s, r#" stroke="{s}" stroke-width="{sw:.1}""#);
        }
        self.s.push_str("/>\n");
    }

    /// Text with its baseline at `y`.
    fn text(&mut self, x: f64, y: f64, size: u32, fill: &str, s: &str) {
        let _ = writeln!(
            self.s,
            r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" fill="{fill}">{}</text>"#,
            esc(s)
        );
    }

    fn text_end(&mut self, x: f64, y: f64, size: u32, fill: &str, s: &str) {
        self.text(x - text_w(s, size), y, size, fill, s);
    }

    /// A label on a filled box; returns its width.
    fn chip(&mut self, x: f64, y: f64, size: u32, fill: &str, bg: &str, s: &str) -> f64 {
        let pad = (size as f64 * 0.3).round();
        let w = text_w(s, size) + 2.0 * pad;
        let h = size as f64 * 1.3;
        self.rect(x, y, w, h, bg, None);
        self.text(x + pad, y + size as f64 * 1.0, size, fill, s);
        w
    }
}

/// A vertical cursor in a box with a height budget.
struct Col {
    x: f64,
    y: f64,
    w: f64,
    bottom: f64,
}

impl Col {
    fn fits(&self, h: f64) -> bool {
        self.y + h <= self.bottom
    }
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut o = String::with_capacity(data.len().div_ceil(3) * 4);
    for ch in data.chunks(3) {
        let b = [ch[0], *ch.get(1).unwrap_or(&0), *ch.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        o.push(A[(n >> 18) as usize & 63] as char);
        o.push(A[(n >> 12) as usize & 63] as char);
        o.push(if ch.len() > 1 {
            A[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        o.push(if ch.len() > 2 {
            A[n as usize & 63] as char
        } else {
            '='
        });
    }
    o
}

fn lane(t: usize) -> &'static str {
    c::LANES[t % c::LANES.len()]
}

/// `T<n> <name>`, as the stepper names a thread (without a doubled `T<n> ` prefix).
fn tname(m: &Machine, t: usize) -> String {
    let name = m.thread_name(t);
    format!(
        "T{t} {}",
        name.strip_prefix(&format!("T{t} ")).unwrap_or(name)
    )
}

/// What the last step changed, by place.
#[derive(Default)]
struct Changed {
    ptes: BTreeMap<(u64, u16), u64>,
    pmds: BTreeMap<u64, u64>,
    vm_flags: BTreeMap<u32, u64>,
    vm_page_prot: BTreeMap<u32, u64>,
    tlb: BTreeMap<(usize, u64), Option<sim_core::state::TlbEntry>>,
    locks: BTreeSet<LockId>,
    filled: BTreeSet<u64>,
}

impl Changed {
    fn of(last: Option<&StepRecord>) -> Changed {
        let mut c = Changed::default();
        let Some(r) = last else { return c };
        for ch in &r.changes {
            match ch {
                Change::Pte {
                    table_pfn,
                    index,
                    old,
                    ..
                } => {
                    c.ptes.entry((*table_pfn, *index)).or_insert(*old);
                }
                Change::Pmd { addr, old, .. } => {
                    c.pmds.entry(*addr).or_insert(*old);
                }
                Change::VmFlags { vma, old, .. } => {
                    c.vm_flags.entry(*vma).or_insert(*old);
                }
                Change::VmPageProt { vma, old, .. } => {
                    c.vm_page_prot.entry(*vma).or_insert(*old);
                }
                Change::Tlb {
                    cpu, vaddr, old, ..
                } => {
                    c.tlb.entry((*cpu, *vaddr)).or_insert(*old);
                }
                Change::TableFilled { table_pfn, .. } => {
                    c.filled.insert(*table_pfn);
                }
                _ => {}
            }
        }
        for l in &r.locks {
            let lock = match l {
                LockEvent::Acquired { lock, .. }
                | LockEvent::Released { lock, .. }
                | LockEvent::Waiting { lock, .. }
                | LockEvent::Woken { lock, .. }
                | LockEvent::TryFailed { lock, .. } => *lock,
            };
            c.locks.insert(lock);
        }
        c
    }
}

pub fn frame(f: &Frame) -> String {
    let m = f.machine;
    let ch = Changed::of(f.last);
    let mut d = Doc { s: String::new() };
    let _ = writeln!(
        d.s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 1280 720" font-family="{}" xml:space="preserve">"#,
        f.size.width(),
        f.size.height(),
        crate::FONT_FAMILY
    );
    let _ = writeln!(
        d.s,
        "<title>{}</title>",
        esc(&format!(
            "{} — {} — step {} / {}",
            f.scenario.title,
            m.kernel().label(),
            f.step,
            f.total
        ))
    );
    if f.embed_font {
        // The font travels with the picture, so every viewer draws the same glyphs.
        let _ = writeln!(
            d.s,
            "<defs><style>@font-face {{ font-family: '{}'; src: url(data:font/ttf;base64,{}) format('truetype'); }}</style></defs>",
            crate::FONT_FAMILY,
            base64(crate::FONT)
        );
    }
    d.rect(0.0, 0.0, W, H, c::BG, None);
    let y = header(&mut d, f);
    let y = narration(&mut d, f, y + 8.0);
    let y = threads(&mut d, f, y + 8.0);
    let strip_top = 594.0;
    let split = 836.0;
    let left = Col {
        x: MARGIN,
        y: y + 10.0,
        w: split - MARGIN - 12.0,
        bottom: strip_top - 6.0,
    };
    let right = Col {
        x: split,
        y: y + 10.0,
        w: W - MARGIN - split,
        bottom: strip_top - 6.0,
    };
    d.rect(
        split - 7.0,
        y + 10.0,
        1.0,
        strip_top - y - 18.0,
        c::BORDER,
        None,
    );
    memory(&mut d, m, &ch, left);
    locks_and_tlbs(&mut d, m, &ch, right);
    invariants_strip(&mut d, f, strip_top);
    d.s.push_str("</svg>\n");
    d.s
}

/// Title, kernel, step counter. Returns the bottom.
fn header(d: &mut Doc, f: &Frame) -> f64 {
    let m = f.machine;
    let h = 52.0;
    d.rect(0.0, 0.0, W, h, c::CUR_BG, None);
    let step = format!("step {} / {}", f.step, f.total);
    d.text_end(W - MARGIN, 35.0, 26, c::CUR_FG, &step);
    // Kernel badges right to left, before the counter.
    let mut x = W - MARGIN - text_w(&step, 26) - 16.0;
    let k = m.kernel();
    let mut badges: Vec<(String, &str, &str)> =
        vec![(format!("Linux {}", k.version.name()), c::FG, c::BG)];
    for w in &k.what_if {
        badges.push((
            format!("HYPOTHETICAL ({}) {}", w.letter(), w.id()),
            c::HYP,
            c::HYP_BG,
        ));
    }
    for h in &k.historical {
        badges.push((h.badge().to_uppercase(), c::HIST, c::HIST_BG));
    }
    for (text, fg, bg) in badges.iter().rev() {
        let w = text_w(text, 18) + 12.0;
        x -= w;
        d.chip(x, 14.0, 18, fg, bg, text);
        x -= 8.0;
    }
    let title = fit(&f.scenario.title, 24, x - MARGIN - 8.0);
    d.text(MARGIN, 35.0, 24, c::CUR_FG, &title);
    h
}

fn narration(d: &mut Doc, f: &Frame, y0: f64) -> f64 {
    let m = f.machine;
    let width = W - 2.0 * MARGIN;
    let mut y = y0;
    match f.last {
        Some(r) => {
            let who = tname(m, r.thread);
            let mut x = MARGIN;
            x += d.chip(x, y, 19, c::CUR_FG, lane(r.thread), &who) + 10.0;
            d.text(x, y + 19.0, 19, c::ACCENT, r.func);
            x += text_w(r.func, 19) + 10.0;
            d.text(x, y + 19.0, 16, c::MUTED, r.file);
            x += text_w(r.file, 16) + 14.0;
            if !r.violations.is_empty() {
                let t = fit(
                    &format!("✗ breaks: {}", r.violations.join(", ")),
                    18,
                    W - MARGIN - x - 12.0,
                );
                d.chip(x, y, 18, c::BAD, c::BAD_BG, &t);
            }
            y += 30.0;
            for line in wrap(&r.explanation, 20, width, 2) {
                d.text(MARGIN, y + 19.0, 20, c::FG, &line);
                y += 25.0;
            }
        }
        None => {
            let mut text = f.scenario.description.clone();
            for w in &m.kernel().what_if {
                text.push_str(&format!(
                    " Hypothetical kernel: {} — no real kernel behaves like this.",
                    w.describe().trim_start_matches("hypothetical: ")
                ));
            }
            for h in &m.kernel().historical {
                text.push_str(&format!(
                    " Historical kernel: {} ({}).",
                    h.describe(),
                    h.badge().trim_start_matches("historical: ")
                ));
            }
            if text.trim().is_empty() {
                text = "The initial state: no step taken yet.".into();
            }
            for line in wrap(&text, 18, width, 3) {
                d.text(MARGIN, y + 18.0, 18, c::FG, &line);
                y += 23.0;
            }
        }
    }
    if let Some(note) = f.note {
        let lines = wrap(note, 18, width - 80.0, 2);
        let h = lines.len() as f64 * 23.0 + 6.0;
        d.rect(MARGIN, y + 2.0, 5.0, h, c::ACCENT, None);
        d.text(MARGIN + 12.0, y + 21.0, 18, c::ACCENT, "Note");
        let mut ly = y;
        for line in lines {
            d.text(MARGIN + 70.0, ly + 21.0, 18, c::FG, &line);
            ly += 23.0;
        }
        y += h + 2.0;
    }
    y
}

/// One column per thread: name and CPU, status, why it waits, its operation and the
/// pseudo-code line it executes next.
fn threads(d: &mut Doc, f: &Frame, y0: f64) -> f64 {
    let m = f.machine;
    let n = m.threads.len().max(1);
    let gap = 10.0;
    let colw = (W - 2.0 * MARGIN - gap * (n as f64 - 1.0)) / n as f64;
    let max_h = 178.0;
    let mut bottom: f64 = y0;
    let k = m.kernel();
    let fs = if n <= 3 { 16 } else { 14 };
    let lh = fs as f64 + 5.0;
    for t in 0..m.threads.len() {
        let x = MARGIN + t as f64 * (colw + gap);
        let spec = &m.spec.threads[t];
        let th = &m.threads[t];
        let just_ran = f.last.is_some_and(|r| r.thread == t);
        // Head.
        d.rect(x, y0, colw, 28.0, lane(t), None);
        let cpu = format!("CPU {}", spec.cpu);
        d.text(
            x + 8.0,
            y0 + 20.0,
            18,
            c::CUR_FG,
            &fit(&tname(m, t), 18, colw - text_w(&cpu, 16) - 24.0),
        );
        d.text_end(x + colw - 8.0, y0 + 20.0, 16, c::CUR_FG, &cpu);
        let mut y = y0 + 34.0;
        let status = m.status(t);
        let (label, fg, bg, reason) = match &status {
            Status::Runnable => ("▶ runnable".to_string(), c::FG, c::ON_BG, None),
            Status::Blocked { reason, .. } => (
                "■ blocked".to_string(),
                c::FG,
                c::WARN_BG,
                Some(reason.clone()),
            ),
            Status::Done => ("✓ done".to_string(), c::FG, "#e6e6e6", None),
            Status::Killed { addr, code } => (
                "✗ SIGSEGV".to_string(),
                c::BAD,
                c::BAD_BG,
                Some(format!("killed by SIGSEGV ({code}) at {addr:#x}")),
            ),
        };
        let cw_ = d.chip(x + 6.0, y, fs, fg, bg, &label);
        if just_ran {
            d.text(
                x + 16.0 + cw_,
                y + fs as f64,
                fs,
                c::ACCENT,
                "◆ just stepped",
            );
        }
        y += lh + 4.0;
        let inner_w = colw - 14.0;
        if let Some(r) = reason {
            for l in wrap(&r, fs - 1, inner_w, 2) {
                d.text(x + 8.0, y + fs as f64, fs - 1, c::FG, &l);
                y += lh - 1.0;
            }
        }
        let finished = matches!(status, Status::Done | Status::Killed { .. });
        if finished {
            for (i, op) in spec.ops.iter().enumerate() {
                let res = th
                    .results
                    .get(i)
                    .map(|r| format!(" = {r}"))
                    .unwrap_or_default();
                for l in wrap(&format!("{}{res}", op.label()), fs - 1, inner_w, 2) {
                    if y + lh > y0 + max_h {
                        break;
                    }
                    d.text(x + 8.0, y + fs as f64, fs - 1, c::MUTED, &l);
                    y += lh - 1.0;
                }
            }
        } else if let Some(op) = spec.ops.get(th.op_index) {
            let more = if spec.ops.len() > 1 {
                format!(" [op {}/{}]", th.op_index + 1, spec.ops.len())
            } else {
                String::new()
            };
            for l in wrap(&format!("{}{more}", op.label()), fs - 1, inner_w, 2) {
                d.text(x + 8.0, y + fs as f64, fs - 1, c::MUTED, &l);
                y += lh - 1.0;
            }
            let pos = m.position(t);
            let frames: Vec<LineRef> = if pos.is_empty() {
                let lst = op.listing();
                sim_core::ops::listing(lst)
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
                pos
            };
            // The innermost frame's function and its line (the caller's line above it
            // when there is room).
            let shown = &frames[frames.len().saturating_sub(2)..];
            for (i, fr) in shown.iter().enumerate() {
                let info = fr.info();
                let innermost = i + 1 == shown.len();
                if innermost {
                    if y + lh > y0 + max_h {
                        break;
                    }
                    d.text(
                        x + 8.0,
                        y + fs as f64,
                        fs - 1,
                        c::ACCENT,
                        &fit(&format!("↳ {} · {}", info.func, info.file), fs - 1, inner_w),
                    );
                    // Room for the underscores' descent above the highlighted line.
                    y += lh + 4.0;
                    let lines = wrap(&format!("▶ {}", info.text(k).trim()), fs, inner_w - 8.0, 3);
                    let room = ((y0 + max_h - y) / lh).floor().max(0.0) as usize;
                    let lines = &lines[..lines.len().min(room)];
                    if !lines.is_empty() {
                        d.rect(
                            x + 4.0,
                            y - 2.0,
                            colw - 8.0,
                            lines.len() as f64 * lh + 4.0,
                            c::CUR_BG,
                            None,
                        );
                    }
                    for l in lines {
                        d.text(x + 8.0, y + fs as f64, fs, c::CUR_FG, l);
                        y += lh;
                    }
                } else if y + 2.0 * lh <= y0 + max_h {
                    d.text(
                        x + 8.0,
                        y + fs as f64,
                        fs - 1,
                        c::MUTED,
                        &fit(
                            &format!("in {}: {}", info.func, info.text(k).trim()),
                            fs - 1,
                            inner_w,
                        ),
                    );
                    y += lh;
                }
            }
        }
        bottom = bottom.max(y);
    }
    let h = (bottom - y0 + 6.0).min(max_h + 6.0);
    for t in 0..m.threads.len() {
        let x = MARGIN + t as f64 * (colw + gap);
        let just_ran = f.last.is_some_and(|r| r.thread == t);
        let sw = if just_ran { 4.0 } else { 1.5 };
        let _ = writeln!(
            d.s,
            r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="none" stroke="{}" stroke-width="{sw:.1}"/>"#,
            x,
            y0,
            colw,
            h,
            lane(t)
        );
    }
    y0 + h
}

fn perms(flags: u64) -> String {
    format!(
        "{}{}{}p",
        if flags & VM_READ != 0 { 'r' } else { '-' },
        if flags & VM_WRITE != 0 { 'w' } else { '-' },
        if flags & VM_EXEC != 0 { 'x' } else { '-' }
    )
}

fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes % (1 << 20) == 0 {
        format!("{} MiB", bytes >> 20)
    } else if bytes % 1024 == 0 {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} B")
    }
}

fn heading(d: &mut Doc, col: &mut Col, s: &str) {
    d.text(col.x, col.y + 15.0, 15, c::ACCENT, s);
    col.y += 21.0;
}

/// Whether a leaf entry allows more than its VMA: `Some(true)` tolerated (an mprotect
/// covering it is in flight), `Some(false)` a violation.
fn too_permissive(m: &Machine, addr: u64, raw: u64, level: Level) -> Option<bool> {
    let writable = match pte::classify(raw, level) {
        EntryKind::Present | EntryKind::ProtNone => raw & pte::RW != 0,
        EntryKind::Migration(e) => e.kind == pte::MigrationKind::Write,
        _ => false,
    };
    let flags = m.mm.find_vma(addr).map_or(0, |v| v.vm_flags);
    if !writable || flags & VM_WRITE != 0 {
        return None;
    }
    Some(
        m.protection_changes_in_flight()
            .iter()
            .any(|&(_, s, e)| s <= addr && addr < e),
    )
}

/// VMAs and page tables.
fn memory(d: &mut Doc, m: &Machine, ch: &Changed, mut col: Col) {
    let inflight = m.protection_changes_in_flight();
    let v64 = m.kernel().is_v64();
    heading(d, &mut col, "VMAs");
    let lh = 21.0;
    for v in &m.mm.vmas {
        if !col.fits(3.0 * lh) {
            d.text(col.x, col.y + 15.0, 15, c::MUTED, "… more VMAs");
            col.y += lh;
            break;
        }
        let mut x = col.x;
        let head = format!(
            "vma#{} {:#x}–{:#x} {} {}",
            v.id,
            v.start,
            v.end,
            size_text(v.end - v.start),
            perms(v.vm_flags)
        );
        d.text(x, col.y + 16.0, 17, c::FG, &head);
        x += text_w(&head, 17) + 10.0;
        let mut tags: Vec<(String, &str, &str)> = Vec::new();
        for &(t, s, e) in &inflight {
            if s < v.end && v.start < e {
                tags.push((format!("T{t}'s mprotect in flight"), c::FG, c::TOL_BG));
            }
        }
        if v.split_by_mprotect {
            tags.push(("split by mprotect".into(), c::FG, c::WARN_BG));
        }
        if v64 && v.write_locked {
            tags.push(("VMA write-locked".into(), c::FG, c::WARN_BG));
        }
        for (t, fg, bg) in tags {
            if x + text_w(&t, 15) + 10.0 > col.x + col.w {
                break;
            }
            x += d.chip(x, col.y + 1.0, 15, fg, bg, &t) + 6.0;
        }
        col.y += lh + 2.0;
        // vm_flags, decoded.
        let old = ch.vm_flags.get(&v.id);
        let names = decode_vm_flags(v.vm_flags).join(" ");
        let label = format!("vm_flags {:#010x} ", v.vm_flags);
        let was = old.map(|o| format!("was {o:#010x}"));
        let was_w = was.as_ref().map_or(0.0, |w| text_w(w, 14) + 10.0);
        let lines = wrap(&names, 15, col.w - 20.0 - text_w(&label, 16) - was_w, 2);
        let hgt = lines.len().max(1) as f64 * 19.0 + 2.0;
        if let Some(was) = &was {
            d.rect(
                col.x + 10.0,
                col.y - 1.0,
                col.w - 10.0,
                hgt,
                c::CHANGED,
                None,
            );
            d.text_end(col.x + col.w - 4.0, col.y + 15.0, 14, c::FG, was);
        }
        d.text(col.x + 14.0, col.y + 15.0, 16, c::FG, &label);
        let mut ly = col.y;
        for l in &lines {
            d.text(
                col.x + 14.0 + text_w(&label, 16),
                ly + 15.0,
                15,
                c::MUTED,
                l,
            );
            ly += 19.0;
        }
        col.y += hgt;
        let old = ch.vm_page_prot.get(&v.id);
        if let Some(o) = old {
            d.rect(
                col.x + 10.0,
                col.y - 1.0,
                col.w - 10.0,
                20.0,
                c::CHANGED,
                None,
            );
            d.text_end(
                col.x + col.w - 4.0,
                col.y + 15.0,
                14,
                c::FG,
                &format!("was {}", pte::hex(*o)),
            );
        }
        d.text(
            col.x + 14.0,
            col.y + 15.0,
            16,
            c::FG,
            &format!("vm_page_prot {}", pte::hex(v.vm_page_prot)),
        );
        col.y += lh + 2.0;
    }
    col.y += 4.0;
    heading(d, &mut col, "PAGE TABLES");
    if m.pt.pmds.is_empty() {
        d.text(
            col.x,
            col.y + 16.0,
            16,
            c::MUTED,
            "No PMD entries: nothing is mapped.",
        );
        return;
    }
    for (&idx, &pmd) in &m.pt.pmds {
        let addr = idx << pte::PMD_SHIFT;
        if !col.fits(lh) {
            d.text(col.x, col.y + 15.0, 15, c::MUTED, "… more page tables");
            return;
        }
        let old = ch.pmds.get(&addr);
        if old.is_some() {
            d.rect(col.x, col.y - 1.0, col.w, lh, c::CHANGED, None);
        }
        let head = format!("PMD {addr:#x} {}", pte::hex(pmd));
        d.text(col.x, col.y + 16.0, 16, c::FG, &head);
        let mut x = col.x + text_w(&head, 16) + 10.0;
        if pte::pmd_is_table(pmd) {
            let t = format!("→ PTE table pfn {:#x}", pte::pmd_table_pfn(pmd));
            d.text(x, col.y + 16.0, 15, c::MUTED, &t);
            x += text_w(&t, 15) + 10.0;
        } else {
            x = entry(d, m, x, col.y, addr, pmd, Level::Pmd, col.x + col.w);
        }
        if let Some(h) = m.pt.pmd_locks.get(&(addr >> 30)) {
            let t = format!("PMD lock: {}", tname(m, *h));
            if x + text_w(&t, 14) < col.x + col.w {
                d.chip(x, col.y + 1.0, 14, c::CUR_FG, c::CUR_BG, &t);
            }
        }
        col.y += lh;
        if let Some(o) = old {
            d.text(
                col.x + 40.0,
                col.y + 14.0,
                14,
                c::FG,
                &format!("PMD was {}", pte::hex(*o)),
            );
            col.y += 18.0;
        }
        if pte::pmd_is_table(pmd) {
            pte_rows(d, m, ch, &mut col, addr, pte::pmd_table_pfn(pmd), false);
        }
        if let Some(&dep) = m.pt.deposited.get(&idx) {
            let nonempty =
                m.pt.tables
                    .get(&dep)
                    .is_some_and(|t| !t.entries.is_empty() || t.ptl.is_some());
            if !col.fits(lh) {
                continue;
            }
            d.text(
                col.x + 20.0,
                col.y + 15.0,
                15,
                c::MUTED,
                &format!(
                    "deposited PTE table pfn {dep:#x}{}",
                    if nonempty {
                        ":"
                    } else {
                        " (empty, for a later split)"
                    }
                ),
            );
            col.y += 19.0;
            if nonempty {
                pte_rows(d, m, ch, &mut col, addr, dep, true);
            }
        }
    }
}

/// A leaf entry's decoded form after its hex: bit chips and pfn, or a description. Returns
/// the x after it.
#[allow(clippy::too_many_arguments)]
fn entry(
    d: &mut Doc,
    m: &Machine,
    x0: f64,
    y: f64,
    addr: u64,
    raw: u64,
    level: Level,
    right: f64,
) -> f64 {
    let mut x = x0;
    let perm = too_permissive(m, addr, raw, level);
    match pte::classify(raw, level) {
        EntryKind::Present | EntryKind::ProtNone | EntryKind::InvalidatedHuge => {
            for chip in pte::leaf_chips(raw, level) {
                let w = text_w(chip.label, 14) + 6.0;
                if chip.on {
                    let (fg, bg) = match (chip.label, perm) {
                        ("RW", Some(false)) => (c::BAD, c::BAD_BG),
                        ("RW", Some(true)) => (c::FG, c::TOL_BG),
                        _ => (c::FG, c::ON_BG),
                    };
                    d.rect(x, y + 1.0, w, 19.0, bg, None);
                    d.text(x + 3.0, y + 15.0, 14, fg, chip.label);
                } else {
                    d.text(x + 3.0, y + 15.0, 14, "#8a8a8a", chip.label);
                }
                x += w + 2.0;
            }
            let pfn = if level == Level::Pmd {
                pte::pmd_pfn(raw)
            } else {
                pte::pte_pfn(raw)
            };
            let mut t = format!("pfn {pfn:#x}");
            match pte::classify(raw, level) {
                EntryKind::ProtNone => t.push_str(" PROT_NONE"),
                EntryKind::InvalidatedHuge => t.push_str(" invalidated"),
                _ if level == Level::Pmd => t.push_str(" huge 2 MiB"),
                _ => {}
            }
            let t = fit(&t, 15, right - x - 6.0);
            d.text(x + 4.0, y + 16.0, 15, c::FG, &t);
            x + 4.0 + text_w(&t, 15) + 8.0
        }
        EntryKind::Migration(e) => {
            // A compact form of `pte::describe` (the row has room for ~40 characters).
            let mut t = format!("migration {} pfn {:#x}", e.kind.name(), e.pfn);
            for (on, name) in [
                (e.young, "young"),
                (e.dirty, "dirty"),
                (e.soft_dirty, "SD"),
                (e.uffd_wp, "uffd-wp"),
            ] {
                if on {
                    t.push(' ');
                    t.push_str(name);
                }
            }
            let t = fit(&t, 14, right - x - 12.0);
            let (fg, bg) = match perm {
                Some(false) => (c::BAD, c::BAD_BG),
                Some(true) => (c::FG, c::TOL_BG),
                None => (c::FG, c::WARN_BG),
            };
            x + d.chip(x, y + 1.0, 14, fg, bg, &t) + 8.0
        }
        _ => {
            let t = fit(&pte::describe(raw, level), 15, right - x - 8.0);
            d.text(x, y + 16.0, 15, c::MUTED, &t);
            x + text_w(&t, 15) + 8.0
        }
    }
}

/// The rows of one PTE table, runs of alike entries collapsed.
fn pte_rows(
    d: &mut Doc,
    m: &Machine,
    ch: &Changed,
    col: &mut Col,
    base: u64,
    table: u64,
    deposited: bool,
) {
    let t = m.pt.tables.get(&table);
    let slots = sim_core::runs::slots(m, base, table, deposited);
    let get = |i: u16| t.map_or(0, |t| t.get(i));
    let changed = |i: u16| ch.ptes.contains_key(&(table, i)) || ch.filled.contains(&table);
    let rows = spans(&slots, get, changed);
    let lock = t.and_then(|t| t.ptl);
    if let Some(h) = lock {
        if col.fits(20.0) {
            d.chip(
                col.x + 20.0,
                col.y,
                14,
                c::CUR_FG,
                c::CUR_BG,
                &format!("PT lock {table:#x}: {}", tname(m, h)),
            );
            col.y += 22.0;
        }
    }
    let lh = 21.0;
    let was_of = |start: u16, end: u16| {
        (start == end)
            .then(|| ch.ptes.get(&(table, start)))
            .flatten()
    };
    // When not every row fits, show a window that starts just before the first row the
    // last step changed (the one the audience should look at), with "…" lines around it.
    let extra = if rows.iter().any(|&(s, e)| was_of(s, e).is_some()) {
        18.0
    } else {
        0.0
    };
    let avail = ((col.bottom - col.y - extra) / lh).floor().max(0.0) as usize;
    let (first, shown) = if rows.len() <= avail {
        (0, rows.len())
    } else {
        let w = avail.saturating_sub(2).max(1);
        let c = rows
            .iter()
            .position(|&(s, e)| (s..=e).any(&changed))
            .unwrap_or(0);
        (c.saturating_sub(1).min(rows.len() - w), w)
    };
    let ellipsis = |d: &mut Doc, col: &mut Col, t: String| {
        d.text(col.x + 20.0, col.y + 15.0, 15, c::MUTED, &t);
        col.y += lh;
    };
    if first > 0 {
        let hidden: usize = rows[..first]
            .iter()
            .map(|&(s, e)| (e - s) as usize + 1)
            .sum();
        ellipsis(d, col, format!("… {hidden} entries above"));
    }
    for &(start, end) in &rows[first..first + shown] {
        let was = was_of(start, end);
        let need = lh + if was.is_some() { 18.0 } else { 0.0 };
        let raw = get(start);
        let addr = base + ((start as u64) << pte::PAGE_SHIFT);
        if changed(start) {
            d.rect(
                col.x + 16.0,
                col.y - 1.0,
                col.w - 16.0,
                need,
                c::CHANGED,
                None,
            );
        }
        if let Some(tol) = too_permissive(m, addr, raw, Level::Pte) {
            d.rect(
                col.x + 8.0,
                col.y - 1.0,
                6.0,
                lh,
                if tol { c::WARN_BG } else { c::BAD_BG },
                None,
            );
        }
        let idx = if start == end {
            format!("[{start}]")
        } else {
            format!("[{start}–{end}]")
        };
        d.text(col.x + 20.0, col.y + 16.0, 15, c::MUTED, &idx);
        let x = col.x + 20.0 + cw(15) * 10.0;
        d.text(x, col.y + 16.0, 16, c::FG, &format!("{addr:#x}"));
        let x = x + cw(16) * 15.0;
        d.text(x, col.y + 16.0, 16, c::FG, &pte::hex(raw));
        let x = x + cw(16) * 19.0;
        if start == end {
            entry(d, m, x, col.y, addr, raw, Level::Pte, col.x + col.w);
        } else {
            let n = (end - start) as usize + 1;
            let t = fit(
                &format!("{} ×{n}", runs::describe_run(raw, n)),
                15,
                col.x + col.w - x - 4.0,
            );
            d.text(x, col.y + 16.0, 15, c::FG, &t);
        }
        col.y += lh;
        if let Some(o) = was {
            let wx = x - cw(16) * 19.0 - cw(14) * 4.0;
            let t = fit(
                &format!("was {}: {}", pte::hex(*o), pte::describe(*o, Level::Pte)),
                14,
                col.x + col.w - wx - 4.0,
            );
            d.text(wx, col.y + 14.0, 14, c::FG, &t);
            col.y += 18.0;
        }
    }
    let rest = &rows[first + shown..];
    if !rest.is_empty() {
        let hidden: usize = rest.iter().map(|&(s, e)| (e - s) as usize + 1).sum();
        ellipsis(d, col, format!("… {hidden} more entries"));
    }
}

/// The stepper's rows of alike entries ([`runs::rows`]) as inclusive index spans.
fn spans(
    slots: &[u16],
    get: impl Fn(u16) -> u64,
    changed: impl Fn(u16) -> bool,
) -> Vec<(u16, u16)> {
    runs::rows(slots, get, changed)
        .into_iter()
        .map(runs::Row::span)
        .collect()
}

/// A lock as the picture shows it (`sim_core::lock_view`'s rows and words; compact names).
struct LockRow {
    lock: LockId,
    label: String,
    holder: Option<String>,
    waiters: Vec<String>,
}

fn lock_rows(m: &Machine) -> Vec<LockRow> {
    let name = |t: usize| tname(m, t);
    sim_core::lock_view::rows(m)
        .into_iter()
        .map(|r| LockRow {
            lock: r.lock,
            label: r.label(true),
            holder: r.holder_words(name),
            waiters: r.waiter_words(name),
        })
        .collect()
}

fn locks_and_tlbs(d: &mut Doc, m: &Machine, ch: &Changed, mut col: Col) {
    heading(d, &mut col, "LOCKS");
    let rows = lock_rows(m);
    let lh = 20.0;
    let lw = 23.0 * cw(15);
    // Leave room for the TLBs below.
    let tlb_lines: usize = m
        .cpus
        .iter()
        .map(|c| if c.tlb.is_empty() { 1 } else { 1 + c.tlb.len() })
        .sum::<usize>()
        .min(6);
    let locks_bottom = col.bottom - 25.0 - tlb_lines as f64 * 19.0;
    for (n, r) in rows.iter().enumerate() {
        let need = lh + if r.waiters.is_empty() { 0.0 } else { 18.0 };
        if col.y + need > locks_bottom {
            d.text(
                col.x,
                col.y + 15.0,
                15,
                c::MUTED,
                &format!("… {} more locks", rows.len() - n),
            );
            col.y += lh;
            break;
        }
        if ch.locks.contains(&r.lock) {
            d.rect(
                col.x - 2.0,
                col.y - 1.0,
                col.w + 2.0,
                need,
                c::CHANGED,
                None,
            );
        }
        d.text(col.x, col.y + 15.0, 15, c::FG, &fit(&r.label, 15, lw));
        let x = col.x + lw + 6.0;
        match &r.holder {
            Some(h) => {
                d.chip(
                    x,
                    col.y,
                    14,
                    c::CUR_FG,
                    c::CUR_BG,
                    &fit(h, 14, col.x + col.w - x - 10.0),
                );
            }
            None => d.text(x, col.y + 15.0, 15, c::OFF, "free"),
        }
        col.y += lh;
        if !r.waiters.is_empty() {
            let t = fit(
                &format!("waiting: {}", r.waiters.join(", ")),
                14,
                col.w - 20.0,
            );
            let w = text_w(&t, 14) + 8.0;
            d.rect(col.x + 14.0, col.y - 2.0, w, 18.0, c::WARN_BG, None);
            d.text(col.x + 18.0, col.y + 12.0, 14, c::FG, &t);
            col.y += 18.0;
        }
    }
    col.y += 4.0;
    heading(d, &mut col, "TLBs");
    for (i, cpu) in m.cpus.iter().enumerate() {
        if !col.fits(19.0) {
            break;
        }
        let on: Vec<String> = m
            .spec
            .threads
            .iter()
            .enumerate()
            .filter(|(_, t)| t.cpu == i)
            .map(|(t, _)| format!("T{t}"))
            .collect();
        let mut items: Vec<(String, bool)> = cpu
            .tlb
            .iter()
            .map(|e| {
                (
                    format!(
                        "{:#x} → pfn {:#x} {}{}{}",
                        e.vaddr,
                        e.pfn,
                        if e.writable { "writable" } else { "read-only" },
                        if e.dirty { " D" } else { "" },
                        if e.huge { " 2M" } else { "" }
                    ),
                    ch.tlb.contains_key(&(i, e.vaddr)),
                )
            })
            .collect();
        for ((cc, v), old) in &ch.tlb {
            if *cc == i && cpu.tlb.iter().all(|e| e.vaddr != *v) {
                if let Some(o) = old {
                    items.push((format!("{v:#x} → pfn {:#x} flushed", o.pfn), true));
                }
            }
        }
        let head = format!(
            "CPU {i}{}",
            if on.is_empty() {
                " idle".to_string()
            } else {
                format!(" ({})", on.join(", "))
            }
        );
        if items.is_empty() {
            d.text(
                col.x,
                col.y + 15.0,
                15,
                c::FG,
                &format!("{head}: TLB empty"),
            );
            col.y += 19.0;
            continue;
        }
        d.text(col.x, col.y + 15.0, 15, c::FG, &head);
        col.y += 19.0;
        for (t, changed) in items {
            if !col.fits(19.0) {
                break;
            }
            if changed {
                d.rect(
                    col.x + 10.0,
                    col.y - 1.0,
                    col.w - 10.0,
                    19.0,
                    c::CHANGED,
                    None,
                );
            }
            d.text(
                col.x + 14.0,
                col.y + 14.0,
                15,
                c::FG,
                &fit(&t, 15, col.w - 18.0),
            );
            col.y += 19.0;
        }
    }
}

/// The nine invariants, green / amber (tolerated while an mprotect is in flight) / red.
fn invariants_strip(d: &mut Doc, f: &Frame, top: f64) {
    let m = f.machine;
    let (mut bad, tolerated) = invariants::check_state(m);
    bad.extend(invariants::check_end(m));
    let mut violated: Vec<&str> = bad.iter().map(|v| v.id).collect();
    if let Some(r) = f.last {
        violated.extend(r.violated.iter().copied());
    }
    d.rect(MARGIN, top, W - 2.0 * MARGIN, 1.5, c::BORDER, None);
    let first_detail = bad.first().map(|v| format!("✗ {}: {}", v.id, v.detail));
    let mut y = top + 5.0;
    match first_detail {
        Some(t) => {
            let t = fit(&t, 15, W - 2.0 * MARGIN - 10.0);
            d.chip(MARGIN, y, 15, c::BAD, c::BAD_BG, &t);
        }
        None => {
            let n_tol = invariants::ALL
                .iter()
                .filter(|i| !violated.contains(&i.id) && tolerated.iter().any(|t| t.id == i.id))
                .count();
            let t = if violated.is_empty() && n_tol == 0 {
                format!("INVARIANTS: all {} hold", invariants::ALL.len())
            } else if violated.is_empty() {
                "INVARIANTS: all hold (one tolerated while mprotect is in flight)".to_string()
            } else {
                format!("INVARIANTS: {} violated", violated.len())
            };
            d.text(MARGIN, y + 15.0, 15, c::ACCENT, &t);
        }
    }
    y += 24.0;
    let gap = 8.0;
    let w = (W - 2.0 * MARGIN - 2.0 * gap) / 3.0;
    for (i, inv) in invariants::ALL.iter().enumerate() {
        let x = MARGIN + (i % 3) as f64 * (w + gap);
        let yy = y + (i / 3) as f64 * 30.0;
        let (mark, fg, bg) = if violated.contains(&inv.id) {
            ("✗", c::BAD, c::BAD_BG)
        } else if tolerated.iter().any(|t| t.id == inv.id) {
            ("◐", c::FG, c::TOL_BG)
        } else {
            ("✓", c::FG, c::ON_BG)
        };
        d.rect(x, yy, w, 26.0, bg, None);
        let at = m
            .broken
            .get(inv.id)
            .map(|s| format!(" @{}", s + 1))
            .unwrap_or_default();
        d.text(
            x + 6.0,
            yy + 19.0,
            16,
            fg,
            &fit(&format!("{mark} {}{at}", inv.id), 16, w - 10.0),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_words_and_marks_cuts() {
        let l = wrap("aaa bbb ccc ddd", 10, cw(10) * 7.0, 5);
        assert_eq!(l, vec!["aaa bbb", "ccc ddd"]);
        let l = wrap("aaa bbb ccc ddd eee", 10, cw(10) * 7.0, 2);
        assert_eq!(l.len(), 2);
        assert!(l[1].ends_with('…'), "{l:?}");
        assert_eq!(
            wrap("abcdefghij", 10, cw(10) * 4.0, 5),
            vec!["abcd", "efgh", "ij"]
        );
        assert_eq!(fit("abcdef", 10, cw(10) * 4.0), "abc…");
    }

    #[test]
    fn base64_matches_known_values() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn runs_collapse_like_the_stepper() {
        let present = |pfn: u64| 0x8000_0000_0000_0867u64 & !pte::PTE_PFN_MASK | (pfn << 12);
        let slots: Vec<u16> = (0..512).collect();
        assert_eq!(
            spans(&slots, |i| present(0x40000 + i as u64), |_| false),
            vec![(0, 511)]
        );
        assert_eq!(
            spans(&slots, |i| present(0x40000 + i as u64), |i| i == 100),
            vec![(0, 99), (100, 100), (101, 511)]
        );
        assert_eq!(
            spans(&[0, 1], |i| present(5 + i as u64), |_| false),
            vec![(0, 0), (1, 1)]
        );
        assert_eq!(
            runs::describe_run(present(0x40000), 512),
            "present RW U A D SD NX, pfn 0x40000+i"
        );
    }
}
