//! Numbers as people write them in scenario files: addresses and values as `"0x7f0000000000"`
//! strings (or plain JSON numbers), protections as `"PROT_READ|PROT_WRITE"`.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::flags::{prot_name, PROT_EXEC, PROT_READ, PROT_WRITE};

/// A `u64` written in hex (`"0x1000"`); decimal strings and JSON numbers are accepted too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hex(pub u64);

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:#x}", self.0))
    }
}

/// Parse `0x...` hex or decimal, allowing `_` separators.
pub fn parse_u64(s: &str) -> Result<u64, String> {
    let t: String = s.trim().chars().filter(|c| *c != '_').collect();
    let r = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(h, 16)
    } else {
        t.parse::<u64>()
    };
    r.map_err(|_| format!("`{s}` is not a number (write hex as 0x..., or decimal)"))
}

impl<'de> Deserialize<'de> for Hex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Hex;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a string such as \"0x1000\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Hex, E> {
                Ok(Hex(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Hex, E> {
                u64::try_from(v)
                    .map(Hex)
                    .map_err(|_| E::custom(format!("{v} is negative")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Hex, E> {
                parse_u64(v).map(Hex).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// `PROT_*` bits; written `"PROT_READ|PROT_WRITE"`, `"PROT_NONE"` or a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Prot(pub u32);

impl Serialize for Prot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&prot_name(self.0))
    }
}

/// Parse `PROT_READ|PROT_WRITE` (spaces allowed around `|`).
pub fn parse_prot(s: &str) -> Result<u32, String> {
    let mut p = 0;
    for part in s.split('|').map(str::trim) {
        p |= match part {
            "PROT_NONE" => 0,
            "PROT_READ" => PROT_READ,
            "PROT_WRITE" => PROT_WRITE,
            "PROT_EXEC" => PROT_EXEC,
            other => {
                return Err(format!(
                    "unknown protection `{other}` (expected PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC joined by |)"
                ))
            }
        };
    }
    Ok(p)
}

impl<'de> Deserialize<'de> for Prot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Prot;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a protection such as \"PROT_READ|PROT_WRITE\"")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Prot, E> {
                if v > 7 {
                    return Err(E::custom(format!(
                        "protection {v} has bits beyond PROT_READ|PROT_WRITE|PROT_EXEC"
                    )));
                }
                Ok(Prot(v as u32))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Prot, E> {
                parse_prot(v).map(Prot).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(feature = "schema")]
mod schema {
    use std::borrow::Cow;

    use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

    impl JsonSchema for super::Hex {
        fn schema_name() -> Cow<'static, str> {
            "Hex".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "description": "A non-negative 64-bit number: a JSON integer, or a string in hex (\"0x7f0000000000\") or decimal; `_` separators allowed.",
                "oneOf": [
                    { "type": "integer", "minimum": 0 },
                    { "type": "string", "pattern": "^\\s*(0[xX][0-9a-fA-F_]+|[0-9_]+)\\s*$" }
                ]
            })
        }
    }

    impl JsonSchema for super::Prot {
        fn schema_name() -> Cow<'static, str> {
            "Prot".into()
        }
        fn json_schema(_: &mut SchemaGenerator) -> Schema {
            json_schema!({
                "description": "mprotect(2) protection: PROT_NONE, or PROT_READ/PROT_WRITE/PROT_EXEC joined by |; or the number 0-7.",
                "oneOf": [
                    { "type": "integer", "minimum": 0, "maximum": 7 },
                    { "type": "string", "pattern": "^\\s*(PROT_NONE|PROT_READ|PROT_WRITE|PROT_EXEC)(\\s*\\|\\s*(PROT_NONE|PROT_READ|PROT_WRITE|PROT_EXEC))*\\s*$" }
                ]
            })
        }
    }
}
