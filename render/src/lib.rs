//! render: pictures of a machine state for slides — one self-contained SVG per step, a PNG
//! rasterised from it, and an animated GIF of a step range.
//!
//! Pure functions of (scenario, schedule, step, size): no I/O, no clock, no system fonts. The
//! one font (DejaVu Sans Mono, `assets/fonts/`) is compiled in: the SVG carries it as a
//! `@font-face` data URL (so a browser or Inkscape shows the same glyphs), and the rasteriser
//! knows only it. The CLI (`mmrace export`) and the browser (`export-wasm`) call the same
//! functions, so they produce the same bytes.
//!
//! Steps are counted like the stepper counts them: step N is the state after N steps of the
//! schedule (step 0 is the initial state), narrated by the record of step N's action.

mod draw;

use std::collections::BTreeMap;
use std::sync::Arc;

use sim_core::{Machine, Scenario, StepRecord};

pub use resvg::{tiny_skia, usvg};

/// The embedded font (Bitstream Vera licence, see `assets/fonts/LICENSE-DejaVu.txt`).
pub const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSansMono.ttf");
/// Its family name, as the SVG names it.
pub const FONT_FAMILY: &str = "DejaVu Sans Mono";

/// The most pictures one export may make (a sequence or a GIF's frames).
pub const MAX_FRAMES: usize = 200;
/// GIF frame delay bounds, in milliseconds (GIF stores hundredths of a second).
pub const MIN_DELAY_MS: u32 = 20;
pub const MAX_DELAY_MS: u32 = 60_000;
pub const DEFAULT_DELAY_MS: u32 = 1500;

/// Output size. The layout is drawn on a 1280×720 canvas; 1080p scales it by 1.5.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Size {
    #[default]
    Hd720,
    Hd1080,
}

impl Size {
    pub const ALL: [Size; 2] = [Size::Hd720, Size::Hd1080];

    pub fn width(self) -> u32 {
        match self {
            Size::Hd720 => 1280,
            Size::Hd1080 => 1920,
        }
    }

    pub fn height(self) -> u32 {
        match self {
            Size::Hd720 => 720,
            Size::Hd1080 => 1080,
        }
    }

    pub fn name(self) -> String {
        format!("{}x{}", self.width(), self.height())
    }

    /// `1280x720` or `1920x1080`.
    pub fn parse(s: &str) -> Result<Size, RenderError> {
        Size::ALL
            .into_iter()
            .find(|z| z.name() == s.trim())
            .ok_or_else(|| RenderError::Size(s.to_string()))
    }
}

/// Picture format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Svg,
    Png,
    Gif,
}

impl Format {
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "svg" => Some(Format::Svg),
            "png" => Some(Format::Png),
            "gif" => Some(Format::Gif),
            _ => None,
        }
    }

    pub fn ext(self) -> &'static str {
        match self {
            Format::Svg => "svg",
            Format::Png => "png",
            Format::Gif => "gif",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("scenario: {0}")]
    Scenario(#[from] sim_core::ScenarioError),
    #[error("schedule step {index}: {error}")]
    Step {
        index: usize,
        error: sim_core::StepError,
    },
    #[error("steps {from}..{to}: {problem}")]
    Range {
        from: usize,
        to: usize,
        problem: String,
    },
    #[error("size `{0}`: must be 1280x720 or 1920x1080")]
    Size(String),
    #[error("delay {0} ms: must be between {MIN_DELAY_MS} and {MAX_DELAY_MS} ms")]
    Delay(u32),
    #[error("rasterising: {0}")]
    Raster(String),
    #[error("GIF encoding: {0}")]
    Gif(String),
}

/// What to draw: a scenario, the schedule stepped, the author's notes that apply to it.
#[derive(Clone, Debug)]
pub struct Film<'a> {
    pub scenario: &'a Scenario,
    pub schedule: &'a [usize],
    /// Narration by step index (0-based record index), as [`notes_for`] gives it.
    pub notes: BTreeMap<usize, String>,
}

impl<'a> Film<'a> {
    /// A film of `schedule`, with the notes of the scenario's schedule `name` for as long
    /// as `schedule` follows it.
    pub fn new(scenario: &'a Scenario, schedule: &'a [usize], name: Option<&str>) -> Film<'a> {
        Film {
            scenario,
            schedule,
            notes: notes_for(scenario, name, schedule),
        }
    }

    /// Check a range of steps (inclusive) against the schedule and the frame limit.
    pub fn check_range(&self, from: usize, to: usize) -> Result<(), RenderError> {
        let bad = |problem: String| RenderError::Range { from, to, problem };
        if from > to {
            return Err(bad("the first step is after the last".into()));
        }
        if to > self.schedule.len() {
            return Err(bad(format!(
                "the schedule has {} steps (0 is the initial state, {} the last)",
                self.schedule.len(),
                self.schedule.len()
            )));
        }
        if to - from + 1 > MAX_FRAMES {
            return Err(bad(format!(
                "{} pictures; at most {MAX_FRAMES} per export",
                to - from + 1
            )));
        }
        Ok(())
    }

    /// One SVG per step `from..=to` (one replay for all of them). `embed_font` carries the
    /// font in each SVG (for files people open); pictures only rasterised leave it out.
    pub fn svgs(
        &self,
        from: usize,
        to: usize,
        size: Size,
        embed_font: bool,
    ) -> Result<Vec<String>, RenderError> {
        self.check_range(from, to)?;
        let mut m = self.scenario.build()?;
        let mut out = Vec::with_capacity(to - from + 1);
        let mut last: Option<StepRecord> = None;
        for step in 0..=to {
            if step > 0 {
                let tid = self.schedule[step - 1];
                last = Some(m.step(tid).map_err(|error| RenderError::Step {
                    index: step - 1,
                    error,
                })?);
            }
            if step >= from {
                out.push(self.draw(&m, last.as_ref(), step, size, embed_font));
            }
        }
        Ok(out)
    }

    /// The SVG of one step.
    pub fn svg(&self, step: usize, size: Size, embed_font: bool) -> Result<String, RenderError> {
        Ok(self.svgs(step, step, size, embed_font)?.remove(0))
    }

    fn draw(
        &self,
        m: &Machine,
        last: Option<&StepRecord>,
        step: usize,
        size: Size,
        embed_font: bool,
    ) -> String {
        let note = step
            .checked_sub(1)
            .and_then(|k| self.notes.get(&k))
            .map(String::as_str);
        draw::frame(&draw::Frame {
            scenario: self.scenario,
            machine: m,
            last,
            step,
            total: self.schedule.len(),
            note,
            size,
            embed_font,
        })
    }
}

/// The notes of the scenario's schedule `name` that apply to `schedule`: those of steps in
/// the prefix that `schedule` shares with the named one (stepping off it drops later notes,
/// as in the stepper).
pub fn notes_for(sc: &Scenario, name: Option<&str>, schedule: &[usize]) -> BTreeMap<usize, String> {
    let Some(named) = name.and_then(|n| sc.schedule(n)) else {
        return BTreeMap::new();
    };
    let Ok(initial) = sc.build() else {
        return BTreeMap::new();
    };
    let Ok(steps) = named.resolve(&initial) else {
        return BTreeMap::new();
    };
    let prefix = steps
        .iter()
        .zip(schedule)
        .take_while(|(a, b)| a == b)
        .count();
    named
        .notes
        .range(..prefix)
        .map(|(&k, v)| (k, v.clone()))
        .collect()
}

/// The files of one export: one SVG or PNG per step `from..=to`, or one animated GIF. The
/// CLI and the browser both call this, so they write the same bytes.
pub fn pictures(
    film: &Film,
    format: Format,
    from: usize,
    to: usize,
    size: Size,
    delay_ms: u32,
) -> Result<Vec<Vec<u8>>, RenderError> {
    if format == Format::Gif && !(MIN_DELAY_MS..=MAX_DELAY_MS).contains(&delay_ms) {
        return Err(RenderError::Delay(delay_ms));
    }
    // Only SVG files carry the font; the rasteriser has it built in.
    let svgs = film.svgs(from, to, size, format == Format::Svg)?;
    match format {
        Format::Svg => Ok(svgs.into_iter().map(String::into_bytes).collect()),
        Format::Png => {
            let r = Rasteriser::new();
            svgs.iter().map(|s| r.png(s, size)).collect()
        }
        Format::Gif => Ok(vec![Rasteriser::new().gif(&svgs, size, delay_ms)?]),
    }
}

/// Turns the SVGs into pixels with the embedded font only.
pub struct Rasteriser {
    opts: usvg::Options<'static>,
}

impl Default for Rasteriser {
    fn default() -> Self {
        Self::new()
    }
}

impl Rasteriser {
    pub fn new() -> Rasteriser {
        let mut db = usvg::fontdb::Database::new();
        db.load_font_data(FONT.to_vec());
        db.set_monospace_family(FONT_FAMILY);
        db.set_sans_serif_family(FONT_FAMILY);
        db.set_serif_family(FONT_FAMILY);
        let opts = usvg::Options {
            font_family: FONT_FAMILY.to_string(),
            fontdb: Arc::new(db),
            ..usvg::Options::default()
        };
        Rasteriser { opts }
    }

    /// Premultiplied RGBA pixels of `svg` at `size`.
    pub fn pixmap(&self, svg: &str, size: Size) -> Result<resvg::tiny_skia::Pixmap, RenderError> {
        let tree = usvg::Tree::from_str(svg, &self.opts)
            .map_err(|e| RenderError::Raster(e.to_string()))?;
        let mut pm = resvg::tiny_skia::Pixmap::new(size.width(), size.height())
            .ok_or_else(|| RenderError::Raster("cannot allocate the picture".into()))?;
        let sx = size.width() as f32 / tree.size().width();
        let sy = size.height() as f32 / tree.size().height();
        resvg::render(
            &tree,
            resvg::tiny_skia::Transform::from_scale(sx, sy),
            &mut pm.as_mut(),
        );
        Ok(pm)
    }

    /// A PNG of `svg`.
    pub fn png(&self, svg: &str, size: Size) -> Result<Vec<u8>, RenderError> {
        self.pixmap(svg, size)?
            .encode_png()
            .map_err(|e| RenderError::Raster(e.to_string()))
    }

    /// An animated GIF, one frame per SVG, looping forever.
    pub fn gif(&self, svgs: &[String], size: Size, delay_ms: u32) -> Result<Vec<u8>, RenderError> {
        if !(MIN_DELAY_MS..=MAX_DELAY_MS).contains(&delay_ms) {
            return Err(RenderError::Delay(delay_ms));
        }
        if svgs.len() > MAX_FRAMES {
            return Err(RenderError::Gif(format!(
                "{} frames; at most {MAX_FRAMES}",
                svgs.len()
            )));
        }
        let (w, h) = (size.width() as u16, size.height() as u16);
        let mut out = Vec::new();
        {
            let mut enc = gif::Encoder::new(&mut out, w, h, &[])
                .map_err(|e| RenderError::Gif(e.to_string()))?;
            enc.set_repeat(gif::Repeat::Infinite)
                .map_err(|e| RenderError::Gif(e.to_string()))?;
            for svg in svgs {
                let pm = self.pixmap(svg, size)?;
                // Opaque background everywhere, so premultiplied = straight RGBA.
                let mut rgba = pm.data().to_vec();
                // NeuQuant at speed 10: a per-frame palette that keeps anti-aliased text
                // smooth; deterministic (no randomness, fixed sampling).
                let mut frame = gif::Frame::from_rgba_speed(w, h, &mut rgba, 10);
                frame.delay = (delay_ms / 10) as u16;
                enc.write_frame(&frame)
                    .map_err(|e| RenderError::Gif(e.to_string()))?;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed() -> Scenario {
        let text = sim_core::library::get("seed-mprotect-vs-migration-v6.4.json").unwrap();
        Scenario::from_json(text).unwrap()
    }

    #[test]
    fn ranges_are_checked_against_the_schedule_and_the_frame_limit() {
        let sc = seed();
        let long = vec![0usize; MAX_FRAMES + 10];
        let film = Film::new(&sc, &long, None);
        assert!(film.check_range(0, MAX_FRAMES - 1).is_ok());
        let e = film.check_range(0, MAX_FRAMES).unwrap_err().to_string();
        assert!(e.contains("at most 200"), "{e}");
        assert!(film.check_range(3, 2).is_err());
        assert!(film.check_range(0, MAX_FRAMES + 11).is_err());
    }

    #[test]
    fn one_replay_gives_the_same_pictures_as_single_steps() {
        let sc = seed();
        let initial = sc.build().unwrap();
        let schedule = sc.schedules[0].resolve(&initial).unwrap();
        let film = Film::new(&sc, &schedule, Some(&sc.schedules[0].name));
        let all = film.svgs(16, 19, Size::Hd720, false).unwrap();
        for (i, s) in all.iter().enumerate() {
            assert_eq!(*s, film.svg(16 + i, Size::Hd720, false).unwrap());
        }
        assert!(all[2].contains("0x8000000023456867"));
        // Size changes only the declared size, not the drawing.
        let big = film.svg(18, Size::Hd1080, false).unwrap();
        assert_eq!(
            big.replacen(
                r#"width="1920" height="1080""#,
                r#"width="1280" height="720""#,
                1
            ),
            all[2]
        );
    }

    /// A listing line that reads differently on v6.3 and v6.4 is drawn in the running
    /// kernel's words only: mprotect's last line names `vma_end_write_all` on v6.4 alone.
    #[test]
    fn pictures_show_the_running_kernels_line() {
        for (name, v64) in [
            ("seed-mprotect-vs-migration-v6.3.json", false),
            ("seed-mprotect-vs-migration-v6.4.json", true),
        ] {
            let sc = Scenario::from_json(sim_core::library::get(name).unwrap()).unwrap();
            let mut m = sc.build().unwrap();
            let schedule = sc.schedules[0].resolve(&m).unwrap();
            // The step before which the mprotect thread is at its listing's last line.
            let mut at = None;
            for (i, &t) in schedule.iter().enumerate() {
                let pos = m.position(0);
                if pos
                    .last()
                    .is_some_and(|p| p.info().differs() && p.info().func == "do_mprotect_pkey")
                {
                    at = Some(i);
                    break;
                }
                m.step(t).unwrap();
            }
            let at = at.unwrap_or_else(|| panic!("{name}: mprotect never reaches its last line"));
            let film = Film::new(&sc, &schedule, None);
            let svg = film.svg(at, Size::Hd720, false).unwrap();
            assert!(svg.contains("mmap_write_unlock(mm)"), "{name}: {svg}");
            assert_eq!(svg.contains("vma_end_write_all"), v64, "{name}");
        }
    }

    #[test]
    fn notes_follow_the_named_schedule_until_the_schedule_leaves_it() {
        let text = sim_core::library::get("mprotect-basic.json").unwrap();
        let sc = Scenario::from_json(text).unwrap();
        let named = &sc.schedules[0];
        let steps = named.resolve(&sc.build().unwrap()).unwrap();
        let notes = notes_for(&sc, Some(&named.name), &steps);
        assert!(notes.iter().eq(named.notes.iter()));
        assert!(notes.contains_key(&4) && notes.contains_key(&13));
        // A schedule that agrees for 6 steps keeps only the notes of those steps.
        let short = &steps[..6];
        assert_eq!(
            notes_for(&sc, Some(&named.name), short)
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            vec![4]
        );
        assert!(notes_for(&sc, None, &steps).is_empty());
        let film = Film::new(&sc, &steps, Some(&named.name));
        let s = film.svg(5, Size::Hd720, false).unwrap();
        assert!(
            s.contains("vm_flags loses VM_WRITE first"),
            "step 5 shows the note of step index 4"
        );
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(Size::parse("1280x720").unwrap(), Size::Hd720);
        assert_eq!(Size::parse("1920x1080").unwrap(), Size::Hd1080);
        assert!(Size::parse("800x600").is_err());
    }

    #[test]
    fn png_and_gif_have_the_requested_size() {
        let sc = seed();
        let initial = sc.build().unwrap();
        let schedule = sc.schedules[0].resolve(&initial).unwrap();
        let film = Film::new(&sc, &schedule, None);
        let r = Rasteriser::new();
        let svgs = film.svgs(0, 1, Size::Hd720, false).unwrap();
        let png = r.png(&svgs[0], Size::Hd720).unwrap();
        let pm = tiny_skia::Pixmap::decode_png(&png).unwrap();
        assert_eq!((pm.width(), pm.height()), (1280, 720));
        // Text is drawn: plenty of dark pixels with the embedded font and no system fonts.
        let dark = pm
            .pixels()
            .iter()
            .filter(|p| p.red() < 80 && p.green() < 80 && p.blue() < 80)
            .count();
        assert!(dark > 5_000, "{dark}");
        let gif = r.gif(&svgs, Size::Hd720, 500).unwrap();
        assert_eq!(&gif[..6], b"GIF89a");
        assert!(matches!(
            r.gif(&svgs, Size::Hd720, 1),
            Err(RenderError::Delay(1))
        ));
    }
}
