//! Authoring logic, free of the DOM so that it is tested natively. The views that use it are
//! `crate::gallery` (the library page) and `crate::editor` (the ✎ Author panel).
//! - [`gallery`]: the library's cards, search and filters;
//! - [`highlight`]: the litmus editor's syntax highlighting;
//! - [`analyse`]: the editor's text parsed and validated, errors placed at a line, reloading
//!   an edited scenario at the same step;
//! - [`record`]: "record" (save the schedule on screen) and narration notes;
//! - [`builder`]: the form builder.

pub mod analyse;
pub mod builder;
pub mod gallery;
pub mod highlight;
pub mod record;

// What the views use, by its short name (natively only the tests use them).
#[cfg_attr(not(target_arch = "wasm32"), allow(unused_imports))]
pub use {analyse::*, builder::*, gallery::*, highlight::*, record::*};

/// Append `s` to `out` with HTML's special characters escaped.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}
