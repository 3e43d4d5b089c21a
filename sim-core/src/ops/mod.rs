//! Kernel operations as resumable step machines, one file each.
//!
//! Every operation file reads top to bottom like the kernel function it models: a
//! pseudo-code listing (`L`, our words with kernel names), the program-counter type (`Pc`)
//! and one `step` function whose match arms are the listing's lines. One step is one atomic
//! shared-memory action or lock operation; purely thread-local work is folded into the
//! neighbouring step.

pub mod access;
pub mod migrate;
pub mod mprotect;
pub mod split_huge_pmd;

use serde::{Deserialize, Serialize};

use crate::flags::prot_name;
use crate::machine::Machine;
use crate::num::Hex;
use crate::record::{Line, LineRef, Listing};
use crate::state::{LockId, Tid};

/// One operation of a thread, as written in a scenario.
///
/// Deserialised by hand (see [`OpSpec::deserialize`]) so that an error in a field keeps its
/// JSON path (`threads[0].ops[1].prot`); serde's internally tagged enums lose it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum OpSpec {
    /// `mprotect(addr, len, prot)` (`do_mprotect_pkey`, mm/mprotect.c).
    Mprotect {
        addr: Hex,
        len: Hex,
        prot: crate::num::Prot,
    },
    /// Migrate the anonymous folio mapped at `addr` to the free frame `to_pfn`
    /// (`migrate_pages`, mm/migrate.c), as compaction or move_pages(2) would.
    Migrate { addr: Hex, to_pfn: Hex },
    /// `split_huge_pmd(vma, pmd, addr)` (mm/huge_memory.c), as a partial munmap or
    /// MADV_DONTNEED would call it.
    SplitHugePmd { addr: Hex },
    /// A user load from `addr`.
    Read { addr: Hex },
    /// A user store of `value` to `addr`.
    Write { addr: Hex, value: Hex },
}

/// Marks a nested path inside an error message: `\u{1}prot\u{1}message`.
/// [`crate::Scenario::from_json`] splices the nested path into the reported path.
pub(crate) const PATH_MARK: char = '\u{1}';

impl<'de> Deserialize<'de> for OpSpec {
    /// `{"op": "mprotect", "addr": ..., ...}` with `op` anywhere in the object: the other
    /// fields are kept as their JSON text until `op` says which struct they make up (serde's
    /// internally tagged enums would do this through its buffered `Content`, and a
    /// `serde_json::Value` through a B-tree map: both cost wasm size for nothing here).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error, MapAccess, Visitor};
        use serde_json::value::RawValue;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Mprotect {
            addr: Hex,
            len: Hex,
            prot: crate::num::Prot,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Migrate {
            addr: Hex,
            to_pfn: Hex,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Addr {
            addr: Hex,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Write {
            addr: Hex,
            value: Hex,
        }
        /// The fields other than `op`, as one JSON object's text.
        fn fields<T: serde::de::DeserializeOwned, E: Error>(text: &str) -> Result<T, E> {
            // Through text, so that the field's name comes from the error's position
            // (`json_path`; no path-tracking deserialiser in the wasm app).
            serde_json::from_str(text).map_err(|e| {
                let inner = e.to_string();
                let inner = match inner.rfind(" at line ") {
                    Some(i) => &inner[..i],
                    None => &inner,
                };
                let path = crate::json_path::error_path(text, e.line(), e.column(), inner, false);
                if path == "$" {
                    E::custom(inner)
                } else {
                    E::custom(format!("{PATH_MARK}{path}{PATH_MARK}{inner}"))
                }
            })
        }
        struct Op;
        impl<'de> Visitor<'de> for Op {
            type Value = OpSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "an operation object such as {\"op\": \"mprotect\", \"addr\": ..., \"len\": ..., \"prot\": ...}",
                )
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<OpSpec, A::Error> {
                let mut op: Option<Box<RawValue>> = None;
                let mut rest = String::from("{");
                while let Some(key) = a.next_key::<String>()? {
                    let value: Box<RawValue> = a.next_value()?;
                    if key == "op" {
                        op = Some(value);
                        continue;
                    }
                    if rest.len() > 1 {
                        rest.push(',');
                    }
                    rest.push_str(&serde_json::to_string(&key).map_err(A::Error::custom)?);
                    rest.push(':');
                    rest.push_str(value.get());
                }
                rest.push('}');
                let Some(op) = op else {
                    return Err(A::Error::missing_field("op"));
                };
                let Ok(op) = serde_json::from_str::<String>(op.get()) else {
                    return Err(A::Error::custom(format!(
                        "{PATH_MARK}op{PATH_MARK}must be a string"
                    )));
                };
                Ok(match op.as_str() {
                    "mprotect" => {
                        let m: Mprotect = fields(&rest)?;
                        OpSpec::Mprotect {
                            addr: m.addr,
                            len: m.len,
                            prot: m.prot,
                        }
                    }
                    "migrate" => {
                        let m: Migrate = fields(&rest)?;
                        OpSpec::Migrate {
                            addr: m.addr,
                            to_pfn: m.to_pfn,
                        }
                    }
                    "split_huge_pmd" => OpSpec::SplitHugePmd {
                        addr: fields::<Addr, _>(&rest)?.addr,
                    },
                    "read" => OpSpec::Read {
                        addr: fields::<Addr, _>(&rest)?.addr,
                    },
                    "write" => {
                        let w: Write = fields(&rest)?;
                        OpSpec::Write {
                            addr: w.addr,
                            value: w.value,
                        }
                    }
                    other => {
                        return Err(A::Error::custom(format!(
                            "{PATH_MARK}op{PATH_MARK}unknown operation `{other}`, expected one of mprotect, migrate, split_huge_pmd, read, write"
                        )))
                    }
                })
            }
        }
        d.deserialize_map(Op)
    }
}

impl OpSpec {
    /// How the operation is written in traces, e.g. `mprotect(0x7f0000000000, 0x1000, PROT_READ)`.
    pub fn label(&self) -> String {
        match self {
            OpSpec::Mprotect { addr, len, prot } => {
                format!("mprotect({addr}, {len}, {})", prot_name(prot.0))
            }
            OpSpec::Migrate { addr, to_pfn } => format!("migrate({addr} → pfn {to_pfn})"),
            OpSpec::SplitHugePmd { addr } => format!("split_huge_pmd({addr})"),
            OpSpec::Read { addr } => format!("read({addr})"),
            OpSpec::Write { addr, value } => format!("write({addr}, {value})"),
        }
    }

    pub fn listing(&self) -> Listing {
        match self {
            OpSpec::Mprotect { .. } => Listing::Mprotect,
            OpSpec::Migrate { .. } => Listing::Migrate,
            OpSpec::SplitHugePmd { .. } => Listing::SplitHugePmd,
            OpSpec::Read { .. } | OpSpec::Write { .. } => Listing::Access,
        }
    }
}

/// The running state of a thread's current operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OpState {
    Mprotect(Box<mprotect::State>),
    Migrate(Box<migrate::State>),
    SplitHugePmd(split_huge_pmd::State),
    Access(Box<access::State>),
}

impl OpState {
    pub fn start(spec: &OpSpec) -> OpState {
        match *spec {
            OpSpec::Mprotect { addr, len, prot } => {
                OpState::Mprotect(Box::new(mprotect::State::new(addr.0, len.0, prot.0)))
            }
            OpSpec::Migrate { addr, to_pfn } => {
                OpState::Migrate(Box::new(migrate::State::new(addr.0, to_pfn.0)))
            }
            OpSpec::SplitHugePmd { addr } => {
                OpState::SplitHugePmd(split_huge_pmd::State::from_macro(addr.0))
            }
            OpSpec::Read { addr } => OpState::Access(Box::new(access::State::new(addr.0, None))),
            OpSpec::Write { addr, value } => {
                OpState::Access(Box::new(access::State::new(addr.0, Some(value.0))))
            }
        }
    }

    /// The lock the next step must take, if it is a spinning acquisition (PT lock, PMD lock,
    /// folio lock) — the thread is blocked while that lock is held by someone else.
    pub fn wants(&self, m: &Machine) -> Option<LockId> {
        match self {
            OpState::Mprotect(s) => s.wants(m),
            OpState::Migrate(s) => s.wants(m),
            OpState::SplitHugePmd(s) => s.wants(m),
            OpState::Access(s) => s.wants(m),
        }
    }

    /// The stack of listing positions the thread is at (outermost first): the line its
    /// next step will execute.
    pub fn position(&self, m: &Machine) -> Vec<LineRef> {
        match self {
            OpState::Mprotect(s) => s.position(m),
            OpState::Migrate(s) => vec![s.position(m)],
            OpState::SplitHugePmd(s) => vec![s.position(m)],
            OpState::Access(s) => vec![s.position(m)],
        }
    }

    /// The address range whose protection this operation is changing, while it is in flight.
    pub fn protection_change(&self) -> Option<(u64, u64)> {
        match self {
            OpState::Mprotect(s) => Some(s.range()),
            _ => None,
        }
    }
}

/// What a step did to its operation.
pub enum Progress {
    /// The operation continues; this step executed `line`.
    Continue(LineRef),
    /// The operation returned `result` in this step.
    Done(LineRef, i64),
    /// The thread was killed (SIGSEGV) in this step.
    Killed(LineRef),
}

/// Run one step of thread `tid`'s operation `st`.
pub fn step(m: &mut Machine, tid: Tid, st: &mut OpState) -> Progress {
    match st {
        OpState::Mprotect(s) => mprotect::step(m, tid, s),
        OpState::Migrate(s) => migrate::step(m, tid, s),
        OpState::SplitHugePmd(s) => split_huge_pmd::step(m, tid, s),
        OpState::Access(s) => access::step(m, tid, s),
    }
}

/// Look up a listing line.
pub fn line(r: LineRef) -> Line {
    let all = listing(r.listing);
    all[r.line as usize]
}

/// The whole listing (unfiltered; use [`Line::when`] to filter by kernel).
pub fn listing(l: Listing) -> &'static [Line] {
    match l {
        Listing::Mprotect => mprotect::LISTING,
        Listing::Migrate => migrate::LISTING,
        Listing::SplitHugePmd => split_huge_pmd::LISTING,
        Listing::Access => access::LISTING,
    }
}

/// Shorthand used by the listings.
pub(crate) const fn ln(
    indent: u8,
    text: &'static str,
    func: &'static str,
    file: &'static str,
    when: crate::record::When,
) -> Line {
    Line {
        text,
        func,
        file,
        indent,
        when,
    }
}
