//! The browser's export: [`render::pictures`] for the link on screen, as a wasm module that
//! `frontend/static/export-worker.js` loads in a Web Worker on the first export. It takes
//! the same inputs as `mmrace export <link>` and returns the same bytes.

use render::{Film, Format, Size};
use sim_core::link::Link;
use wasm_bindgen::prelude::*;

/// The files of one export of the link `link` (`v1.…`, with or without `#`): one per step
/// `from..=to` for `svg`/`png`, one animated file for `gif`. Errors name the input.
pub fn pictures(
    link: &str,
    format: &str,
    from: usize,
    to: usize,
    size: &str,
    delay_ms: u32,
) -> Result<Vec<Vec<u8>>, String> {
    let link = Link::decode(link).map_err(|e| format!("link: {e}"))?;
    let format = Format::parse(format)
        .ok_or_else(|| format!("format `{format}`: must be svg, png or gif"))?;
    let size = Size::parse(size).map_err(|e| e.to_string())?;
    let film = Film::new(
        &link.scenario,
        &link.schedule,
        link.schedule_name.as_deref(),
    );
    render::pictures(&film, format, from, to, size, delay_ms).map_err(|e| e.to_string())
}

/// [`pictures`] for JavaScript: an array of `Uint8Array`s.
#[wasm_bindgen]
pub fn export_pictures(
    link: &str,
    format: &str,
    from: usize,
    to: usize,
    size: &str,
    delay_ms: u32,
) -> Result<js_sys::Array, JsError> {
    let files = pictures(link, format, from, to, size, delay_ms).map_err(|e| JsError::new(&e))?;
    let out = js_sys::Array::new();
    for f in files {
        out.push(&js_sys::Uint8Array::from(f.as_slice()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(cursor: usize) -> String {
        let text = sim_core::library::get("seed-mprotect-vs-migration-v6.4.json").unwrap();
        let sc = sim_core::Scenario::from_json(text).unwrap();
        let steps = sc.schedules[0].resolve(&sc.build().unwrap()).unwrap();
        Link::new(sc, steps, cursor).encode()
    }

    #[test]
    fn a_link_exports_like_the_render_crate() {
        let l = link(18);
        let svgs = pictures(&l, "svg", 17, 18, "1280x720", 1000).unwrap();
        assert_eq!(svgs.len(), 2);
        let text = String::from_utf8(svgs[1].clone()).unwrap();
        assert!(text.contains("0x8000000023456867") && text.contains("step 18 / 34"));
        let gif = pictures(&l, "gif", 17, 18, "1280x720", 1000).unwrap();
        assert_eq!(gif.len(), 1);
        assert_eq!(&gif[0][..6], b"GIF89a");
    }

    #[test]
    fn bad_inputs_name_what_is_wrong() {
        let l = link(0);
        assert!(pictures("v1.!!", "svg", 0, 0, "1280x720", 1000)
            .unwrap_err()
            .starts_with("link:"));
        assert!(pictures(&l, "bmp", 0, 0, "1280x720", 1000)
            .unwrap_err()
            .starts_with("format"));
        assert!(pictures(&l, "png", 0, 0, "10x10", 1000)
            .unwrap_err()
            .starts_with("size"));
        assert!(pictures(&l, "png", 0, 99, "1280x720", 1000)
            .unwrap_err()
            .starts_with("steps 0..99"));
        assert!(pictures(&l, "gif", 0, 1, "1280x720", 1)
            .unwrap_err()
            .starts_with("delay"));
    }
}
