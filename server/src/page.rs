//! The app page for a short link (`/s/{id}`, `/embed/{id}`): the frontend's `index.html`
//! with a few tags injected into its `<head>`.
//!
//! The contract with the frontend (documented in the README as well):
//! - `<base href="/">` first thing in `<head>`, so that the relative asset URLs of index.html
//!   (`./style.css`, `./boot.js`) resolve against the root under `/s/<id>` too;
//! - `<meta name="mmrace-scenario" content="<id>">`: the canonical id; the app fetches
//!   `/api/scenarios/<id>` (a 404 there means the link names no stored scenario);
//! - `<meta name="mmrace-step" content="<N>">` when the link has `?step=N` (a non-negative
//!   integer; anything else is ignored): open the stepper at step N of the schedule;
//! - `<meta name="mmrace-schedule" content="<name>">` when the link has `?schedule=NAME`:
//!   which of the scenario's named schedules (default: the first one);
//! - `<meta name="mmrace-embed" content="1">` on `/embed/<id>`: embed mode (no chrome around
//!   the stepper; the only page that may be framed);
//! - `<meta name="mmrace-error" content="...">` when the id is malformed (status 400) — then
//!   there is no `mmrace-scenario`;
//! - OpenGraph and Twitter card tags (`og:title`, `og:description`, `og:type`,
//!   `og:site_name`, `twitter:card`, `twitter:title`, `twitter:description`), and the
//!   `<title>` and `<meta name="description">` replaced, from the scenario's title and
//!   description.
//!
//! Every injected value is HTML-escaped: scenario text is plain text everywhere.

use std::fmt::Write as _;

/// What to inject.
#[derive(Debug, Clone, Default)]
pub struct PageMeta<'a> {
    /// Canonical id, when the link's id is well-formed.
    pub id: Option<&'a str>,
    /// Page title (scenario title), plain text.
    pub title: Option<&'a str>,
    /// Page description, plain text.
    pub description: Option<&'a str>,
    pub step: Option<u64>,
    pub schedule: Option<&'a str>,
    pub embed: bool,
    /// Why the link cannot be opened (malformed id).
    pub error: Option<&'a str>,
}

/// The longest description put into meta tags (link previews show about 200 characters).
const MAX_META_DESCRIPTION: usize = 300;

/// Escape text for an HTML attribute value in double quotes or for element content.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters have no business in a title; newlines become spaces.
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Cut `s` to at most `max` characters, ending with `…` when cut.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// `index` with the tags of `meta` injected. `index` is the frontend's index.html; if it
/// has no `<head>` the tags go first.
pub fn inject(index: &str, meta: &PageMeta) -> String {
    let mut tags = String::from("\n<base href=\"/\">");
    let mut m = |name: &str, attr: &str, value: &str| {
        let _ = write!(
            tags,
            "\n<meta {attr}=\"{name}\" content=\"{}\">",
            escape(value)
        );
    };
    if let Some(id) = meta.id {
        m("mmrace-scenario", "name", id);
    }
    if let Some(step) = meta.step {
        m("mmrace-step", "name", &step.to_string());
    }
    if let Some(schedule) = meta.schedule {
        m("mmrace-schedule", "name", schedule);
    }
    if meta.embed {
        m("mmrace-embed", "name", "1");
    }
    if let Some(error) = meta.error {
        m("mmrace-error", "name", error);
    }
    let title = meta.title.filter(|t| !t.trim().is_empty());
    let description = meta
        .description
        .filter(|d| !d.trim().is_empty())
        .map(|d| clip(d.trim(), MAX_META_DESCRIPTION));
    m("og:site_name", "property", "mmrace");
    m("og:type", "property", "website");
    m("twitter:card", "name", "summary");
    if let Some(t) = title {
        m("og:title", "property", t);
        m("twitter:title", "name", t);
    }
    if let Some(d) = &description {
        m("og:description", "property", d);
        m("twitter:description", "name", d);
    }

    let mut page = index.to_owned();
    if let Some(t) = title {
        replace_element(
            &mut page,
            "<title",
            "</title>",
            &format!("<title>{} — mmrace</title>", escape(t)),
        );
    }
    if let Some(d) = &description {
        let tag = format!("<meta name=\"description\" content=\"{}\">", escape(d));
        replace_element(&mut page, "<meta name=\"description\"", ">", &tag);
    }
    let at = head_content_start(&page).unwrap_or(0);
    page.insert_str(at, &tags);
    page
}

/// Replace the first `open…close` span (ASCII case-insensitive search for `open`) with
/// `with`; if there is none, leave `page` alone.
fn replace_element(page: &mut String, open: &str, close: &str, with: &str) {
    let lower = page.to_ascii_lowercase();
    let Some(start) = lower.find(&open.to_ascii_lowercase()) else {
        return;
    };
    let Some(len) = lower[start..].find(&close.to_ascii_lowercase()) else {
        return;
    };
    page.replace_range(start..start + len + close.len(), with);
}

/// The byte offset just after the `<head ...>` start tag.
fn head_content_start(page: &str) -> Option<usize> {
    let lower = page.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("<head") {
        let start = from + i;
        let after = lower.as_bytes().get(start + 5).copied();
        // `<head>` or `<head attr...>`, not `<header>`.
        if matches!(after, Some(b'>' | b' ' | b'\t' | b'\n' | b'\r')) {
            return lower[start..].find('>').map(|j| start + j + 1);
        }
        from = start + 5;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "<!doctype html>\n<html lang=\"en\">\n<HEAD>\n  <meta charset=\"utf-8\">\n  <title>mmrace — step</title>\n  <meta name=\"description\" content=\"default\">\n  <link rel=\"stylesheet\" href=\"./style.css\">\n</head>\n<body><header>x</header></body>\n</html>\n";

    #[test]
    fn injects_into_head_and_replaces_title_and_description() {
        let page = inject(
            INDEX,
            &PageMeta {
                id: Some("werc8gmrzge196qvyk49"),
                title: Some("mprotect vs migration"),
                description: Some("two threads"),
                step: Some(17),
                schedule: Some("writer-first"),
                embed: true,
                error: None,
            },
        );
        let head_at = page.find("<HEAD>").unwrap() + "<HEAD>".len();
        assert!(page[head_at..].starts_with("\n<base href=\"/\">"), "{page}");
        for tag in [
            "<meta name=\"mmrace-scenario\" content=\"werc8gmrzge196qvyk49\">",
            "<meta name=\"mmrace-step\" content=\"17\">",
            "<meta name=\"mmrace-schedule\" content=\"writer-first\">",
            "<meta name=\"mmrace-embed\" content=\"1\">",
            "<meta property=\"og:title\" content=\"mprotect vs migration\">",
            "<meta name=\"twitter:description\" content=\"two threads\">",
            "<title>mprotect vs migration — mmrace</title>",
            "<meta name=\"description\" content=\"two threads\">",
        ] {
            assert!(page.contains(tag), "missing {tag} in {page}");
        }
        assert!(!page.contains("default"));
        assert!(!page.contains("mmrace — step"));
        assert_eq!(page.matches("<title>").count(), 1);
        assert!(page.contains("<header>x</header>"));
    }

    #[test]
    fn everything_is_escaped() {
        let evil = "\"><script>alert(1)</script><img src=x onerror='alert(2)'>&amp;";
        let page = inject(
            INDEX,
            &PageMeta {
                id: Some("werc8gmrzge196qvyk49"),
                title: Some(evil),
                description: Some(evil),
                schedule: Some(evil),
                ..PageMeta::default()
            },
        );
        assert!(!page.contains("<script>"), "{page}");
        assert!(!page.contains("<img"), "{page}");
        assert!(!page.contains("'alert"), "{page}");
        assert!(page.contains("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("&amp;amp;"));
    }

    #[test]
    fn without_a_head_the_tags_go_first_and_long_text_is_clipped() {
        let long = "x".repeat(1000);
        let page = inject(
            "<p>hi</p>",
            &PageMeta {
                description: Some(&long),
                error: Some("malformed"),
                ..PageMeta::default()
            },
        );
        assert!(page.starts_with("\n<base href=\"/\">"));
        assert!(page.contains("<meta name=\"mmrace-error\" content=\"malformed\">"));
        assert!(!page.contains("mmrace-scenario"));
        assert!(page.contains(&format!("{}…\"", "x".repeat(MAX_META_DESCRIPTION - 1))));
        assert!(page.ends_with("<p>hi</p>"));
    }
}
