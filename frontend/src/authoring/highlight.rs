//! The litmus editor's syntax highlighting: tokens by `sim_core::lex`, coloured by the
//! format's vocabulary (`litmus::KEYWORDS`/`ATTRIBUTES`, `condition::KEYWORDS`, the registered
//! operations), rendered as one escaped HTML string with the error's line marked and its
//! message inline.

use sim_core::ops::{OpInfo, REGISTRY};
use sim_core::{condition, lex, litmus};

use super::analyse::LineError;
use super::escape_into;

/// The class of a highlighted token (also its CSS class suffix: `tok-kw`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tok {
    Keyword,
    Op,
    Flag,
    Number,
    Str,
    Comment,
    Punct,
    Word,
    Space,
}

impl Tok {
    pub fn class(self) -> &'static str {
        match self {
            Tok::Keyword => "tok-kw",
            Tok::Op => "tok-op",
            Tok::Flag => "tok-flag",
            Tok::Number => "tok-num",
            Tok::Str => "tok-str",
            Tok::Comment => "tok-com",
            Tok::Punct => "tok-punct",
            Tok::Word => "tok-word",
            Tok::Space => "",
        }
    }
}

/// Whether `w` is a registered operation's name.
fn is_op(w: &str) -> bool {
    OpInfo::get(w).is_some()
}

/// Whether `w` is a word of an operation's field leads (`pfn` in `-> pfn`).
fn is_lead_word(w: &str) -> bool {
    REGISTRY
        .iter()
        .flat_map(|r| r.fields)
        .any(|f| f.lead.split_whitespace().any(|p| p == w))
}

fn classify_word(w: &str) -> Tok {
    if litmus::KEYWORDS.contains(&w) || condition::KEYWORDS.contains(&w) || is_lead_word(w) {
        Tok::Keyword
    } else if is_op(w) {
        Tok::Op
    } else if w.starts_with("PROT_")
        || w.starts_with("VM_")
        || w.starts_with("_PAGE_")
        || litmus::ATTRIBUTES.contains(&w)
    {
        Tok::Flag
    } else {
        Tok::Word
    }
}

/// Split one line into highlighted tokens; concatenated they give the line back exactly.
/// Only colours: the parser decides what is valid.
pub fn highlight_line(line: &str) -> Vec<(Tok, &str)> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        let (tok, n) = if c == '#' {
            (Tok::Comment, rest.len())
        } else if c == '"' {
            (Tok::Str, lex::string_len(rest).0)
        } else if matches!(c, ' ' | '\t' | '\r') {
            let n = rest
                .find(|c| !matches!(c, ' ' | '\t' | '\r'))
                .unwrap_or(rest.len());
            (Tok::Space, n)
        } else if lex::number_len(rest) > 0 {
            (Tok::Number, lex::number_len(rest))
        } else if lex::word_len(rest) > 0 {
            let n = lex::word_len(rest);
            (classify_word(&rest[..n]), n)
        } else if rest.starts_with("->") {
            (Tok::Punct, 2)
        } else {
            (Tok::Punct, c.len_utf8())
        };
        out.push((tok, &rest[..n]));
        rest = &rest[n..];
    }
    out
}

/// The editor's highlighted text and its gutter as HTML (escaped here; built as one string
/// because a virtual node per token costs far more wasm and time than it buys): each line a
/// `span.ed-line[data-line]`, the error's line marked and followed by its message.
pub fn highlight_html(text: &str, err: Option<&LineError>) -> (String, String) {
    let lines: Vec<&str> = text.split('\n').collect();
    let err_line = err.map(|e| e.line.clamp(1, lines.len()));
    let mut pre = String::with_capacity(text.len() * 3);
    let mut gutter = String::with_capacity(lines.len() * 30);
    for (i, l) in lines.iter().enumerate() {
        let n = i + 1;
        let bad = Some(n) == err_line;
        let cls = if bad { " ed-error-line" } else { "" };
        pre.push_str(&format!("<span class=\"ed-line{cls}\" data-line=\"{n}\">"));
        for (t, s) in highlight_line(l) {
            if t == Tok::Space {
                escape_into(&mut pre, s);
            } else {
                pre.push_str(&format!("<span class=\"{}\">", t.class()));
                escape_into(&mut pre, s);
                pre.push_str("</span>");
            }
        }
        if let Some(e) = err.filter(|_| bad) {
            // The message stays on the line (a wrapped one would shift the lines below under
            // the transparent textarea), shortened so that it does not run far past the
            // edge; the status line above the editor and the tooltip carry it whole.
            pre.push_str("<span class=\"ed-msg\" data-line=\"");
            pre.push_str(&n.to_string());
            pre.push_str("\" title=\"");
            escape_into(&mut pre, &e.message);
            pre.push_str("\">  ✗ ");
            escape_into(&mut pre, &inline_message(&e.message, l.chars().count()));
            pre.push_str("</span>");
        }
        pre.push_str("</span>\n");
        let gcls = if bad { " error" } else { "" };
        gutter.push_str(&format!("<div class=\"ed-ln{gcls}\">{n}</div>"));
    }
    (pre, gutter)
}

/// The inline error after a line of `line_len` characters: cut (at a word, with "…") so that
/// line and message fit [`INLINE_WIDTH`] characters, but never below 24 characters of message.
pub fn inline_message(message: &str, line_len: usize) -> String {
    let room = INLINE_WIDTH.saturating_sub(line_len + 4).max(24);
    if message.chars().count() <= room {
        return message.to_string();
    }
    let cut: String = message.chars().take(room - 1).collect();
    let cut = match cut.rfind(' ') {
        Some(i) if i > room / 2 => &cut[..i],
        _ => cut.as_str(),
    };
    format!("{}…", cut.trim_end())
}

/// The editor's width in characters that inline errors aim to stay within (the Author panel
/// at 1280 px shows about this many columns of 12 px monospace).
pub const INLINE_WIDTH: usize = 72;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlighting_covers_the_line_exactly() {
        let line = "vma 0x7f0000000000-0x7f0000001000 PROT_READ|PROT_WRITE \"a;b\" # c \"d\"";
        let toks = highlight_line(line);
        let back: String = toks.iter().map(|(_, s)| *s).collect();
        assert_eq!(back, line);
        let kinds: Vec<(Tok, &str)> = toks.into_iter().filter(|(t, _)| *t != Tok::Space).collect();
        assert_eq!(kinds[0], (Tok::Keyword, "vma"));
        assert_eq!(kinds[1], (Tok::Number, "0x7f0000000000"));
        assert_eq!(kinds[2], (Tok::Punct, "-"));
        assert_eq!(kinds[4], (Tok::Flag, "PROT_READ"));
        assert_eq!(kinds[7], (Tok::Str, "\"a;b\""));
        assert_eq!(kinds[8], (Tok::Comment, "# c \"d\""));
        let t = highlight_line("  migrate 0x1000 -> pfn 0x2 ; é");
        assert_eq!(
            t.iter().map(|(_, s)| *s).collect::<String>(),
            "  migrate 0x1000 -> pfn 0x2 ; é"
        );
        assert!(t.contains(&(Tok::Op, "migrate")) && t.contains(&(Tok::Punct, "->")));
    }

    #[test]
    fn bug_inline_error_text_runs_past_the_right_edge() {
        // Short messages stay whole.
        assert_eq!(inline_message("expected a number", 10), "expected a number");
        // Long ones are cut at a word so line + message fit the editor's width.
        let long = "threads[1].ops[0].to_pfn: 0x12345 is the page's own frame; migrate it to a frame nothing maps";
        let m = inline_message(long, 30);
        assert!(
            m.ends_with('…') && m.chars().count() + 30 + 4 <= INLINE_WIDTH + 1,
            "{m}"
        );
        assert!(long.starts_with(m.trim_end_matches('…')), "{m}");
        // A long line still gets a readable start of the message.
        assert!(inline_message(long, 200).chars().count() >= 24);
        // The whole message stays in the tooltip.
        let (pre, _) = highlight_html(
            "mmrace v6.4\nvma 0x0-0x1000 PROT_READ",
            Some(&LineError {
                line: 2,
                col: None,
                message: long.into(),
            }),
        );
        assert!(pre.contains(&format!("title=\"{}\"", long)), "{pre}");
    }

    #[test]
    fn highlighted_html_escapes_and_marks_the_error_line() {
        let e = LineError {
            line: 2,
            col: Some(3),
            message: "expected <x>, found \"&\"".into(),
        };
        let (pre, gutter) = highlight_html("cpus 2\nvma <&>\n", Some(&e));
        assert!(
            pre.contains("<span class=\"ed-line ed-error-line\" data-line=\"2\">"),
            "{pre}"
        );
        assert!(
            pre.contains(">&lt;</span><span class=\"tok-punct\">&amp;</span>")
                && !pre.contains("<&>"),
            "{pre}"
        );
        assert!(
            pre.contains("✗ expected &lt;x&gt;, found &quot;&amp;&quot;</span></span>"),
            "{pre}"
        );
        assert_eq!(pre.matches("class=\"ed-line").count(), 3);
        assert_eq!(gutter.matches("ed-ln error").count(), 1);
        assert!(gutter.contains("<div class=\"ed-ln error\">2</div>"));
    }
}
