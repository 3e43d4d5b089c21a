//! Scenario ids: content-addressed, short, typeable.
//!
//! The id of a scenario is the first 100 bits of the SHA-256 of its canonical JSON
//! ([`sim_core::Scenario::to_json`], UTF-8), written as 20 characters of Crockford's base32 in
//! lower case: digits and the letters `a–z` without `i`, `l`, `o` and `u`. So the same scenario
//! always gets the same id, a different scenario a different one (a collision needs about
//! 2^50 stored scenarios to become likely; the store still refuses one rather than serve the
//! wrong bytes), and an id read off a slide can be typed without guessing between `0`/`o` or
//! `1`/`l`.
//!
//! Parsing is forgiving the way Crockford's alphabet intends: upper case is accepted, and the
//! look-alikes `o` → `0`, `i`/`l` → `1` are read as the digits. [`parse`] returns the canonical
//! spelling; everything is answered under it.

use sha2::{Digest, Sha256};

/// Characters in an id.
pub const ID_LEN: usize = 20;
/// Crockford's base32 alphabet, lower case.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// The id of a canonical scenario body.
pub fn scenario_id(canonical: &[u8]) -> String {
    let digest = Sha256::digest(canonical);
    // 100 bits = the first 12.5 bytes; read 5 bits at a time, most significant first.
    let mut out = String::with_capacity(ID_LEN);
    let mut acc: u32 = 0;
    let mut bits = 0;
    let mut bytes = digest.iter();
    while out.len() < ID_LEN {
        if bits < 5 {
            acc = (acc << 8) | u32::from(*bytes.next().expect("32 bytes > 100 bits"));
            bits += 8;
        }
        bits -= 5;
        out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
    }
    out
}

/// Why a string is not an id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("a scenario id has {ID_LEN} characters, this one has {0}")]
    Length(usize),
    #[error(
        "a scenario id uses only the digits and the letters a-z without i, l, o and u; \
         found {0:?}"
    )]
    Character(char),
}

/// Check an id and return its canonical spelling (lower case, look-alikes read as digits).
pub fn parse(s: &str) -> Result<String, IdError> {
    let n = s.chars().count();
    if n != ID_LEN {
        return Err(IdError::Length(n));
    }
    let mut out = String::with_capacity(ID_LEN);
    for c in s.chars() {
        match u8::try_from(c).map_or(0, |b| CANONICAL[usize::from(b)]) {
            0 => return Err(IdError::Character(c)),
            b => out.push(char::from(b)),
        }
    }
    Ok(out)
}

/// Byte → its canonical id character, or 0 if it has none (a table: this runs on every
/// request for a stored scenario).
const CANONICAL: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        let c = ALPHABET[i];
        t[c as usize] = c;
        t[c.to_ascii_uppercase() as usize] = c;
        i += 1;
    }
    t[b'o' as usize] = b'0';
    t[b'O' as usize] = b'0';
    t[b'i' as usize] = b'1';
    t[b'I' as usize] = b'1';
    t[b'l' as usize] = b'1';
    t[b'L' as usize] = b'1';
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_well_formed() {
        // Pinned: changing the id function would give every existing scenario a second id.
        assert_eq!(scenario_id(b""), "werc8gmrzge196qvyk49");
        assert_eq!(scenario_id(b"{}"), "8g9pz8tnpdkrm4a6nmbf");
        let id = scenario_id(b"some scenario");
        assert_eq!(id.len(), ID_LEN);
        assert!(id.bytes().all(|b| ALPHABET.contains(&b)));
        assert_eq!(parse(&id).unwrap(), id);
        assert_ne!(scenario_id(b"a"), scenario_id(b"b"));
    }

    #[test]
    fn parsing_is_forgiving_but_strict_about_the_rest() {
        assert_eq!(
            parse("WERC8GMRZGE196QVYK49").unwrap(),
            "werc8gmrzge196qvyk49"
        );
        assert_eq!(
            parse("oooooiiiiilllll00000").unwrap(),
            "00000111111111100000"
        );
        assert_eq!(parse("abc"), Err(IdError::Length(3)));
        assert_eq!(parse(""), Err(IdError::Length(0)));
        assert_eq!(parse("werc8gmrzge196qvyk4u"), Err(IdError::Character('u')));
        assert_eq!(parse("werc8gmrzge196qvyk.."), Err(IdError::Character('.')));
        assert_eq!(parse("werc8gmrzge196qvyk4é"), Err(IdError::Character('é')));
        assert!(parse("../../../../etc/pass").is_err());
    }
}
