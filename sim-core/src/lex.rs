//! The words, numbers and strings of mmrace's texts: the litmus format ([`crate::litmus`]),
//! conditions ([`crate::condition`]) and the editor's highlighting read them with these
//! functions, so the three agree on what a word, a number and a string are. Each function
//! looks at the start of a `&str` and says how many bytes the token takes (or its value);
//! the callers keep their own positions and messages.

/// Whether `c` may start a WORD: `[A-Za-z_]`.
pub fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

/// Whether `c` may continue a WORD: `[A-Za-z0-9_.-]`.
pub fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
}

/// The byte length of the WORD at the start of `s` (0 if there is none):
/// `[A-Za-z_][A-Za-z0-9_.-]*`.
pub fn word_len(s: &str) -> usize {
    if !s.starts_with(is_word_start) {
        return 0;
    }
    s.find(|c: char| !is_word_char(c)).unwrap_or(s.len())
}

/// Whether all of `s` is one WORD (so a printer may write it bare).
pub fn is_word(s: &str) -> bool {
    !s.is_empty() && word_len(s) == s.len()
}

/// The byte length of the number at the start of `s` (0 unless `s` starts with a digit):
/// the digit and every letter, digit, `_` and `.` after it, so that a mistyped number
/// (`0x1g`, `1.5`) is one token, reported whole.
pub fn number_len(s: &str) -> usize {
    if !s.starts_with(|c: char| c.is_ascii_digit()) {
        return 0;
    }
    s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(s.len())
}

/// Why a number token has no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumberError {
    /// Not `0x` hex or decimal digits.
    Malformed,
    /// More than 64 bits.
    TooBig,
}

/// The value of a number token: `0x` hex or decimal, with optional `_` separators.
pub fn number_value(tok: &str) -> Result<u64, NumberError> {
    let digits: String = tok.chars().filter(|&c| c != '_').collect();
    let (radix, body) = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(h) => (16, h),
        None => (10, digits.as_str()),
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return Err(NumberError::Malformed);
    }
    u64::from_str_radix(body, radix).map_err(|_| NumberError::TooBig)
}

/// What is wrong with a string literal; `at` is a byte offset from the opening quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StringError {
    /// The line (or the text) ends at `at` before the closing quote.
    Unclosed { at: usize },
    /// A bad escape at `at`; `expected` says what would be one.
    Escape { at: usize, expected: &'static str },
    /// A raw control character `c` at `at` (it must be escaped).
    Control { at: usize, c: char },
}

/// The escapes a string may hold, for messages.
pub const ESCAPES: &str = "an escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)";
const LOW_SURROGATE: &str = "a `\\uDC00`-`\\uDFFF` low surrogate after a high surrogate";
const HEX4: &str = "`\\u` and four hex digits";

/// The JSON string literal at the start of `s` (which starts with `"`), on one line: its
/// value and its length in bytes, quotes included. `\r\n` ends a line like `\n`.
pub fn string(s: &str) -> Result<(String, usize), StringError> {
    debug_assert!(s.starts_with('"'));
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 1;
    let hex4 = |at: usize| -> Option<u32> {
        let d = s.get(at..at + 4)?;
        if d.chars().all(|c| c.is_ascii_hexdigit()) {
            u32::from_str_radix(d, 16).ok()
        } else {
            None
        }
    };
    loop {
        let Some(c) = s[i..].chars().next() else {
            return Err(StringError::Unclosed { at: i });
        };
        match c {
            '\n' => return Err(StringError::Unclosed { at: i }),
            '\r' if b.get(i + 1) == Some(&b'\n') => return Err(StringError::Unclosed { at: i }),
            '"' => return Ok((out, i + 1)),
            '\\' => {
                let here = i;
                let esc = s[i + 1..].chars().next();
                i += 1 + esc.map_or(0, char::len_utf8);
                let bad = |expected| StringError::Escape { at: here, expected };
                match esc {
                    Some('"') => out.push('"'),
                    Some('\\') => out.push('\\'),
                    Some('/') => out.push('/'),
                    Some('b') => out.push('\u{8}'),
                    Some('f') => out.push('\u{c}'),
                    Some('n') => out.push('\n'),
                    Some('r') => out.push('\r'),
                    Some('t') => out.push('\t'),
                    Some('u') => {
                        let hi = hex4(i).ok_or(bad(HEX4))?;
                        i += 4;
                        let c = if (0xD800..0xDC00).contains(&hi) {
                            let lo_at = i;
                            let low = |expected| StringError::Escape {
                                at: lo_at,
                                expected,
                            };
                            if !s[i..].starts_with("\\u") {
                                return Err(low(LOW_SURROGATE));
                            }
                            let lo = hex4(i + 2).ok_or(low(HEX4))?;
                            if !(0xDC00..0xE000).contains(&lo) {
                                return Err(low(LOW_SURROGATE));
                            }
                            i += 6;
                            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                        } else {
                            char::from_u32(hi)
                        };
                        out.push(c.ok_or(bad(
                            "a Unicode scalar value (a lone low surrogate is not one)",
                        ))?);
                    }
                    _ => return Err(bad(ESCAPES)),
                }
            }
            c if (c as u32) < 0x20 => return Err(StringError::Control { at: i, c }),
            c => {
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
}

/// The extent of what looks like a string literal at the start of `s` (which starts with
/// `"`): its byte length to the closing quote (`true`), or to the end of the line or text
/// (`false`), with `\` escaping the character after it. For text that may not parse.
pub fn string_len(s: &str) -> (usize, bool) {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        match c {
            '\n' => return (i, false),
            '"' if !escaped => return (i + 1, true),
            '\\' => escaped = !escaped,
            _ => escaped = false,
        }
    }
    (s.len(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_numbers_and_strings() {
        assert_eq!(word_len("no-anon-vma rest"), 11);
        assert_eq!(word_len("VM_HUGEPAGE|x"), 11);
        assert_eq!(word_len("0x1"), 0);
        assert!(is_word("lost-write") && !is_word("a b") && !is_word(""));
        assert_eq!(number_len("0x7f00_0000-0x1"), 11);
        assert_eq!(number_len("1.5)"), 3);
        assert_eq!(number_len("x"), 0);
        assert_eq!(number_value("0x7f00_0000"), Ok(0x7f00_0000));
        assert_eq!(number_value("4096"), Ok(4096));
        assert_eq!(number_value("0x"), Err(NumberError::Malformed));
        assert_eq!(number_value("1.5"), Err(NumberError::Malformed));
        assert_eq!(
            number_value("0x1_0000_0000_0000_0000"),
            Err(NumberError::TooBig)
        );
        assert_eq!(string(r#""a\"b" c"#), Ok(("a\"b".to_string(), 6)));
        assert_eq!(string("\"\\ud83d\\ude00\""), Ok(("😀".to_string(), 14)));
        assert_eq!(string("\"é\""), Ok(("é".to_string(), 4)));
        assert_eq!(string("\"ab\nc\""), Err(StringError::Unclosed { at: 3 }));
        assert_eq!(string("\"ab\r\n\""), Err(StringError::Unclosed { at: 3 }));
        assert_eq!(string("\"ab"), Err(StringError::Unclosed { at: 3 }));
        assert_eq!(
            string("\"a\tb\""),
            Err(StringError::Control { at: 2, c: '\t' })
        );
        assert!(matches!(
            string(r#""\q""#),
            Err(StringError::Escape { at: 1, .. })
        ));
        assert!(matches!(
            string(r#""\ud83dx""#),
            Err(StringError::Escape { at: 7, .. })
        ));
        assert_eq!(string_len(r#""a\"b" c"#), (6, true));
        assert_eq!(string_len(r#""a\\" c"#), (5, true));
        assert_eq!(string_len("\"ab\ncd"), (3, false));
        assert_eq!(string_len("\"a\\"), (3, false));
    }

    /// The hand-written string reader takes exactly the JSON string literals (on one line)
    /// that serde_json takes, with the same values.
    #[test]
    fn strings_are_json_strings() {
        let pieces = [
            "a",
            "é",
            "\\\"",
            "\\\\",
            "\\/",
            "\\b",
            "\\f",
            "\\n",
            "\\r",
            "\\t",
            "\\u0041",
            "\\ud83d\\ude00",
            "\\ud83d",
            "\\ude00",
            "\\ud83dx",
            "\\u12",
            "\\x",
            "\t",
            "\u{1}",
            "\\",
            " ",
        ];
        for a in pieces {
            for b in pieces {
                let lit = format!("\"{a}{b}\"");
                let want = serde_json::from_str::<String>(&lit).ok();
                let got = string(&lit).ok().filter(|(_, n)| *n == lit.len());
                assert_eq!(got.map(|(v, _)| v), want, "{lit:?}");
            }
        }
    }
}
