//! Reading the scenario format strictly, and saying what is wrong in plain words.
//!
//! serde's derived structs also accept a JSON *array* of their fields in declaration order
//! (`[1, "title", …]` for a scenario): a format nobody documents or writes, and one whose
//! meaning would silently change with the field order. [`MapsOnly`] wraps a deserializer and
//! refuses an array wherever a struct is read, at any depth; everything else passes through
//! unchanged (so serde_json still places every error, and `json_path` still finds its path).
//!
//! serde's messages name Rust types (`expected usize`, `expected struct VmaSpec`); users of
//! the format never see those types. [`plain_words`] rewrites them, and shortens any value
//! quoted back from the input, so that a 200 KB bad string is not echoed whole.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess};
use serde::de::{VariantAccess, Visitor};

/// What is said where a struct was given as an array.
const NO_POSITIONAL: &str =
    "an object with named fields (a list of values by position is not accepted)";

/// A deserializer that reads structs only from JSON objects (see the module docs).
pub struct MapsOnly<D>(pub D);

/// The visitor of a struct: refuses arrays.
struct StructVisitor<V>(V);

/// Any other visitor: wraps what it is handed, so nested structs are checked too.
struct Wrap<V>(V);

macro_rules! forward {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            self.0.$method(Wrap(visitor))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for MapsOnly<D> {
    type Error = D::Error;

    forward! {
        deserialize_any deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32
        deserialize_i64 deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32
        deserialize_u64 deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char
        deserialize_str deserialize_string deserialize_bytes deserialize_byte_buf
        deserialize_option deserialize_unit deserialize_seq deserialize_map
        deserialize_identifier deserialize_ignored_any
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit_struct(name, Wrap(visitor))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        // serde_json's raw values are a private protocol between it and its own visitor:
        // hand that one through untouched.
        if name.starts_with("$serde_json") {
            return self.0.deserialize_newtype_struct(name, visitor);
        }
        self.0.deserialize_newtype_struct(name, Wrap(visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple(len, Wrap(visitor))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple_struct(name, len, Wrap(visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0
            .deserialize_struct(name, fields, StructVisitor(visitor))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_enum(name, variants, Wrap(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

macro_rules! pass {
    ($($method:ident: $t:ty)*) => {$(
        fn $method<E: de::Error>(self, v: $t) -> Result<Self::Value, E> {
            self.0.$method(v)
        }
    )*};
}

macro_rules! visitor_body {
    () => {
        pass! {
            visit_bool: bool visit_i8: i8 visit_i16: i16 visit_i32: i32 visit_i64: i64
            visit_i128: i128 visit_u8: u8 visit_u16: u16 visit_u32: u32 visit_u64: u64
            visit_u128: u128 visit_f32: f32 visit_f64: f64 visit_char: char visit_str: &str
            visit_borrowed_str: &'de str visit_string: String visit_bytes: &[u8]
            visit_borrowed_bytes: &'de [u8] visit_byte_buf: Vec<u8>
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            self.0.visit_none()
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            self.0.visit_unit()
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            self.0.visit_some(MapsOnly(d))
        }

        fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            self.0.visit_newtype_struct(MapsOnly(d))
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            self.0.visit_map(Wrap(map))
        }

        fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
            self.0.visit_enum(Wrap(data))
        }
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    visitor_body!();

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.0.visit_seq(Wrap(seq))
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for StructVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(NO_POSITIONAL)
    }

    visitor_body!();

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Self::Value, A::Error> {
        Err(de::Error::invalid_type(de::Unexpected::Seq, &self))
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Wrap<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.0.next_element_seed(Wrap(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Wrap<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.0.next_key_seed(Wrap(seed))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(Wrap(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for Wrap<A> {
    type Error = A::Error;
    type Variant = Wrap<A::Variant>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), A::Error> {
        self.0
            .variant_seed(Wrap(seed))
            .map(|(value, variant)| (value, Wrap(variant)))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Wrap<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.0.newtype_variant_seed(Wrap(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, Wrap(visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.struct_variant(fields, StructVisitor(visitor))
    }
}

impl<'de, T: DeserializeSeed<'de>> DeserializeSeed<'de> for Wrap<T> {
    type Value = T::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T::Value, D::Error> {
        self.0.deserialize(MapsOnly(d))
    }
}

/// The most characters of a value quoted back from the input in a message.
pub const MAX_QUOTED: usize = 60;

/// serde's wording of a deserialisation error in the words of the scenario format: no Rust
/// type names, and values quoted from the input (between `"…"` or `` `…` ``) shortened to
/// [`MAX_QUOTED`] characters.
pub fn plain_words(message: &str) -> String {
    const WORDS: &[(&str, &str)] = &[
        ("expected usize", "expected a whole number of at least 0"),
        ("expected u64", "expected a whole number of at least 0"),
        ("expected u32", "expected a whole number of at least 0"),
        ("expected u16", "expected a whole number of at least 0"),
        ("expected u8", "expected a whole number of at least 0"),
        ("expected i64", "expected a whole number"),
        ("expected i32", "expected a whole number"),
        ("expected a sequence", "expected a list"),
        ("expected a map", "expected an object"),
        ("expected a borrowed string", "expected a string"),
        ("invalid type: sequence", "invalid type: a list"),
        ("invalid type: map", "invalid type: an object"),
        ("invalid type: unit value", "invalid type: null"),
        ("invalid type: boolean", "invalid type: the boolean"),
        ("invalid type: floating point", "invalid type: the number"),
        ("invalid type: integer", "invalid type: the number"),
        ("invalid value: integer", "invalid value: the number"),
        ("invalid value: floating point", "invalid value: the number"),
        ("invalid type: string", "invalid type: the string"),
        ("invalid value: string", "invalid value: the string"),
    ];
    let mut s = shorten_quoted(message);
    for (from, to) in WORDS {
        if s.contains(from) {
            s = s.replace(from, to);
        }
    }
    // `expected struct X` / `expected enum X` (a derived visitor's own wording).
    for kind in ["struct ", "enum ", "tuple struct "] {
        let needle = format!("expected {kind}");
        while let Some(i) = s.find(&needle) {
            let rest = &s[i + needle.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            s = format!("{}expected an object{}", &s[..i], &rest[end..]);
        }
    }
    // Quoted values may contain the quote characters themselves: bound the whole too.
    let count = s.chars().count();
    if count > MAX_MESSAGE {
        let head: String = s.chars().take(MAX_MESSAGE).collect();
        s = format!("{head}… ({count} characters)");
    }
    s
}

/// The most characters of a message from the JSON reader.
pub const MAX_MESSAGE: usize = 600;

/// A value from the input, shortened to [`MAX_QUOTED`] characters for a message.
pub fn shorten(value: &str) -> String {
    let count = value.chars().count();
    if count <= MAX_QUOTED {
        return value.to_owned();
    }
    let head: String = value.chars().take(MAX_QUOTED).collect();
    format!("{head}… ({count} characters)")
}

/// A JSON path whose member names come from the input (`notes.<key>`, an unknown field):
/// each name shortened like a value.
pub fn shorten_path(path: &str) -> String {
    if path.len() <= MAX_QUOTED {
        return path.to_owned();
    }
    let short = path.split('.').map(shorten).collect::<Vec<_>>().join(".");
    // A member name may itself contain dots (each piece then short): bound the whole too.
    let count = short.chars().count();
    if count <= MAX_PATH {
        return short;
    }
    let head: String = short.chars().take(MAX_PATH).collect();
    format!("{head}… ({} characters)", path.chars().count())
}

/// The most characters of a JSON path in a message.
pub const MAX_PATH: usize = 200;

/// Shorten every `"…"` and `` `…` `` span longer than [`MAX_QUOTED`] characters.
fn shorten_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(1024));
    let mut chars = message.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '"' && c != '`' {
            continue;
        }
        let mut inner = String::new();
        let mut closed = false;
        let mut count = 0usize;
        for d in chars.by_ref() {
            if d == c {
                closed = true;
                break;
            }
            if count < MAX_QUOTED {
                inner.push(d);
            }
            count += 1;
        }
        out.push_str(&inner);
        if count > MAX_QUOTED {
            out.push_str(&format!("… ({count} characters)"));
        }
        if closed {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        a: u32,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        inner: Vec<Inner>,
        maybe: Option<Inner>,
        n: u64,
    }

    fn read<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, String> {
        let mut de = serde_json::Deserializer::from_str(text);
        T::deserialize(MapsOnly(&mut de))
            .and_then(|v| de.end().map(|()| v))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn objects_pass_arrays_for_structs_do_not() {
        let ok: Outer = read(r#"{"inner":[{"a":1}],"maybe":{"a":2},"n":3}"#).unwrap();
        assert_eq!(ok.inner, vec![Inner { a: 1 }]);
        assert_eq!(ok.maybe, Some(Inner { a: 2 }));
        // Plain serde accepts all three positional forms; the wrapper none.
        for bad in [
            r#"[[{"a":1}],null,3]"#,
            r#"{"inner":[[1]],"maybe":null,"n":3}"#,
            r#"{"inner":[],"maybe":[2],"n":3}"#,
        ] {
            assert!(serde_json::from_str::<Outer>(bad).is_ok(), "{bad}");
            let e = read::<Outer>(bad).unwrap_err();
            assert!(e.contains("a list of values by position"), "{bad}: {e}");
        }
    }

    #[test]
    fn messages_lose_rust_names_and_long_values() {
        assert_eq!(
            plain_words("invalid type: string \"x\", expected usize"),
            "invalid type: the string \"x\", expected a whole number of at least 0"
        );
        assert_eq!(
            plain_words("invalid type: integer `3`, expected struct VmaSpec"),
            "invalid type: the number `3`, expected an object"
        );
        let long = format!("unknown field `{}`, expected `a`", "x".repeat(200_000));
        let short = plain_words(&long);
        assert!(short.len() < 200, "{short}");
        assert!(short.contains("… (200000 characters)`"), "{short}");
    }
}
