//! Kernel operations as resumable step machines: one file per operation, and one list below
//! (`operations!`) that registers them.
//!
//! Every operation file reads top to bottom like the kernel function it models, and declares
//! everything about its operation:
//! - the spec a scenario writes: a struct implementing [`Operation`] — its name in JSON and in
//!   the litmus text, its [`Field`]s (from which its JSON shape, JSON Schema, litmus spelling,
//!   the builder's form and the highlighter's keywords are derived), its validation and the
//!   label traces show;
//! - its pseudo-code listing: `listing!` makes the line enum `L` and the `LISTING` table (our
//!   words with kernel names, per-line kernel function and file, a `When` condition, and a
//!   v6.4 text where the kernels differ) from one list, so the two cannot drift apart;
//! - its step machine: a `State` implementing [`StepMachine`], whose `step` has one match arm
//!   per listing line. One step is one atomic shared-memory action or lock operation; purely
//!   thread-local work is folded into the neighbouring step.
//!
//! Everything else is derived from the registration list: [`OpSpec`] with its JSON
//! (de)serialisation and schema, [`OpState`] and its dispatch, [`Listing`], the validation
//! dispatch, the litmus parser and printer (`crate::litmus`), and in the frontend the builder's
//! form, the gallery's filters and the highlighter's keywords. Adding an operation is its file
//! plus one line in the list; `tests/registry.rs` then checks every derived place for it (and
//! the random-scenario property test, that it generates it).

use serde::{Deserialize, Serialize};

use crate::json_path::in_member;
use crate::machine::Machine;
use crate::num::{Hex, Prot};
use crate::record::{Line, LineRef};
use crate::scenario::{OpCheck, ScenarioError};
use crate::state::{LockId, Tid};

/// An operation file's listing: the line enum `L` and the `LISTING` table from one list (so
/// neither can gain or lose a line without the other), and `at(L)`, the [`LineRef`] of a line.
/// A line's index is its position in the list: it is part of every trace hash, so lines are
/// appended or their text changed, never reordered.
macro_rules! listing {
    ($listing:expr; $( $(#[$doc:meta])* $name:ident = $line:expr, )+) => {
        /// Listing lines; the numbers are indexes into [`LISTING`].
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        #[repr(u16)]
        enum L {
            $( $(#[$doc])* $name, )+
        }

        pub const LISTING: &[$crate::record::Line] = &[$( $line, )+];

        fn at(l: L) -> $crate::record::LineRef {
            $crate::record::LineRef {
                listing: $listing,
                line: l as u16,
            }
        }
    };
}

/// The registration of every operation: the operation file (a module of this folder), the
/// [`Listing`] (and [`OpState`]) variant of its step machine, and the operations spelled with
/// it (structs of that file implementing [`Operation`]; they become [`OpSpec`]'s variants, in
/// this order). `Listing`'s order is part of every trace hash (it hashes line positions as
/// (listing, index)): append, never reorder.
macro_rules! operations {
    ($( $(#[$doc:meta])* $module:ident : $Listing:ident => [ $( $Op:ident ),+ ] ),+ $(,)?) => {
        $( $(#[$doc])* pub mod $module; )+

        /// Which listing a line index refers to: one per operation file.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum Listing {
            $( $Listing, )+
        }

        impl Listing {
            /// Every listing, in registration order.
            pub const ALL: &'static [Listing] = &[$( Listing::$Listing, )+];

            /// The operation file's name (`split_huge_pmd`).
            pub fn name(self) -> &'static str {
                match self {
                    $( Listing::$Listing => stringify!($module), )+
                }
            }

            /// The whole listing (unfiltered; use [`Line::when`] to filter by kernel).
            pub fn lines(self) -> &'static [Line] {
                match self {
                    $( Listing::$Listing => $module::LISTING, )+
                }
            }
        }

        /// One operation of a thread, as written in a scenario.
        ///
        /// Deserialised by hand (see [`OpSpec::deserialize`]) so that an error in a field keeps its
        /// JSON path (`threads[0].ops[1].prot`); serde's internally tagged enums lose it.
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum OpSpec {
            $( $( $Op($module::$Op), )+ )+
        }

        /// The running state of a thread's current operation: one step machine per file.
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum OpState {
            $( $Listing(Box<$module::State>), )+
        }

        /// Every registered operation, in registration order.
        pub const REGISTRY: &[OpInfo] = &[
            $( $( OpInfo {
                name: <$module::$Op as Operation>::NAME,
                fields: <$module::$Op as Operation>::FIELDS,
                listing: Listing::$Listing,
            }, )+ )+
        ];

        /// Each registered operation's [`Operation::DOC`], in registration order.
        #[cfg(feature = "schema")]
        const DOCS: &[&str] = &[$( $( <$module::$Op as Operation>::DOC, )+ )+];

        impl OpSpec {
            /// Its name in JSON and litmus (`mprotect`).
            pub fn name(&self) -> &'static str {
                match self {
                    $( $( OpSpec::$Op(_) => <$module::$Op as Operation>::NAME, )+ )+
                }
            }

            /// Its fields, in order.
            pub fn fields(&self) -> &'static [Field] {
                match self {
                    $( $( OpSpec::$Op(_) => <$module::$Op as Operation>::FIELDS, )+ )+
                }
            }

            /// Its field values, in the order of [`OpSpec::fields`].
            pub fn values(&self) -> Vec<u64> {
                match self {
                    $( $( OpSpec::$Op(o) => o.values(), )+ )+
                }
            }

            /// The operation called `name` with these field values; `None` for an unknown name
            /// or the wrong number of values.
            pub fn from_values(name: &str, values: &[u64]) -> Option<OpSpec> {
                $( $(
                    if name == <$module::$Op as Operation>::NAME {
                        return (values.len() == <$module::$Op as Operation>::FIELDS.len())
                            .then(|| OpSpec::$Op(<$module::$Op as Operation>::from_values(values)));
                    }
                )+ )+
                None
            }

            /// How the operation is written in traces, e.g.
            /// `mprotect(0x7f0000000000, 0x1000, PROT_READ)`.
            pub fn label(&self) -> String {
                match self {
                    $( $( OpSpec::$Op(o) => o.label(), )+ )+
                }
            }

            pub fn listing(&self) -> Listing {
                match self {
                    $( $( OpSpec::$Op(_) => Listing::$Listing, )+ )+
                }
            }

            /// Validate it as the operation at `cx`'s path of the scenario being built.
            pub fn check(&self, cx: &mut OpCheck<'_>) -> Result<(), ScenarioError> {
                match self {
                    $( $( OpSpec::$Op(o) => o.check(cx), )+ )+
                }
            }
        }

        impl OpState {
            pub fn start(spec: &OpSpec) -> OpState {
                match spec {
                    $( $( OpSpec::$Op(o) => OpState::$Listing(Box::new(o.start())), )+ )+
                }
            }

            /// The lock the next step must take, if it is a spinning acquisition (PT lock, PMD
            /// lock, folio lock) — the thread is blocked while that lock is held by someone else.
            pub fn wants(&self, m: &Machine) -> Option<LockId> {
                match self {
                    $( OpState::$Listing(s) => StepMachine::wants(&**s, m), )+
                }
            }

            /// The stack of listing positions the thread is at (outermost first): the line its
            /// next step will execute.
            pub fn position(&self, m: &Machine) -> Vec<LineRef> {
                match self {
                    $( OpState::$Listing(s) => StepMachine::position(&**s, m), )+
                }
            }

            /// The address range whose protection this operation is changing, while it is in
            /// flight.
            pub fn protection_change(&self) -> Option<(u64, u64)> {
                match self {
                    $( OpState::$Listing(s) => StepMachine::protection_change(&**s), )+
                }
            }
        }

        /// Run one step of thread `tid`'s operation `st`.
        pub fn step(m: &mut Machine, tid: Tid, st: &mut OpState) -> Progress {
            match st {
                $( OpState::$Listing(s) => StepMachine::step(&mut **s, m, tid), )+
            }
        }
    };
}

operations! {
    mprotect: Mprotect => [Mprotect],
    migrate: Migrate => [Migrate],
    split_huge_pmd: SplitHugePmd => [SplitHugePmd],
    access: Access => [Read, Write],
}

/// What an operation file declares about an operation a scenario can write.
pub trait Operation: Sized {
    /// Its name: the JSON `"op"` and the litmus keyword (a snake_case word).
    const NAME: &'static str;
    /// One sentence: what it does and which kernel function it models (the JSON Schema's
    /// description).
    const DOC: &'static str;
    /// Its fields, in the order the litmus text writes them.
    const FIELDS: &'static [Field];
    /// Its step machine.
    type State: StepMachine;

    /// The field values, in [`Operation::FIELDS`]' order.
    fn values(&self) -> Vec<u64>;
    /// The operation with these values (as many as [`Operation::FIELDS`], in its order).
    fn from_values(v: &[u64]) -> Self;
    /// How traces show it, e.g. `mprotect(0x7f0000000000, 0x1000, PROT_READ)`; part of every
    /// trace hash (an `op-returned` event carries it).
    fn label(&self) -> String;
    /// Refuse what the scenario cannot mean (errors name the field: [`OpCheck::err`]).
    fn check(&self, cx: &mut OpCheck<'_>) -> Result<(), ScenarioError>;
    /// The step machine at the operation's first line.
    fn start(&self) -> Self::State;
}

/// An operation's running state, stepped one atomic action at a time. Every fact the model,
/// the UI or the explorer needs about an operation's next step is a required method here, so
/// that no operation can lack it.
pub trait StepMachine: Clone + std::fmt::Debug + PartialEq + Eq + std::hash::Hash {
    /// The lock the next step must take, if it is a spinning acquisition (PT lock, PMD lock,
    /// folio lock): the thread is blocked while someone else holds it.
    fn wants(&self, m: &Machine) -> Option<LockId>;
    /// The listing positions the thread is at, outermost first (an operation that calls
    /// another's code, such as mprotect splitting a THP, has two).
    fn position(&self, m: &Machine) -> Vec<LineRef>;
    /// Run one step of thread `tid`.
    fn step(&mut self, m: &mut Machine, tid: Tid) -> Progress;
    /// The address range whose protection this operation is changing, while it is in flight.
    fn protection_change(&self) -> Option<(u64, u64)> {
        None
    }
}

/// A registered operation, for the code derived from the registration (parsers, printer,
/// builder, highlighter, tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpInfo {
    pub name: &'static str,
    pub fields: &'static [Field],
    pub listing: Listing,
}

impl OpInfo {
    /// The registered operation called `name`.
    pub fn get(name: &str) -> Option<&'static OpInfo> {
        REGISTRY.iter().find(|r| r.name == name)
    }
}

/// One field of an operation, as scenarios write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// The JSON member; the same as the spec struct's field (`to_pfn`).
    pub name: &'static str,
    /// What it is, in words (`target pfn`): the builder's placeholder, parser messages.
    pub label: &'static str,
    /// What the litmus text writes before the value (`-> pfn`, `=`, or nothing). When reading,
    /// its punctuation is required and its words are optional (`-> 0x1` reads as `-> pfn 0x1`).
    pub lead: &'static str,
    pub kind: Kind,
}

impl Field {
    /// A number field (`0x1000`).
    pub const fn number(name: &'static str, label: &'static str, lead: &'static str) -> Field {
        Field {
            name,
            label,
            lead,
            kind: Kind::Number,
        }
    }

    /// A protection field (`PROT_READ|PROT_WRITE`).
    pub const fn prot(name: &'static str, label: &'static str, lead: &'static str) -> Field {
        Field {
            name,
            label,
            lead,
            kind: Kind::Prot,
        }
    }
}

/// The kinds of field values. A new kind (a flag list, say) is added here, with its JSON, its
/// litmus spelling and its schema next to the others'.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A number: JSON `"0x1000"` (or a plain number, or a decimal string), litmus `0x1000`.
    Number,
    /// `PROT_*` bits: JSON `"PROT_READ|PROT_WRITE"` (or a number), litmus
    /// `PROT_READ|PROT_WRITE` or 0-7.
    Prot,
}

impl Serialize for OpSpec {
    /// `{"op": "mprotect", "addr": "0x7f0000000000", ...}`: the name, then the fields in order.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let fields = self.fields();
        let mut st = s.serialize_struct("OpSpec", 1 + fields.len())?;
        st.serialize_field("op", self.name())?;
        for (f, v) in fields.iter().zip(self.values()) {
            match f.kind {
                Kind::Number => st.serialize_field(f.name, &Hex(v))?,
                Kind::Prot => st.serialize_field(f.name, &Prot(v as u32))?,
            }
        }
        st.end()
    }
}

/// Size code, standing in for serde's derived internally tagged enum (`#[serde(tag = "op")]`,
/// which buffers through its `Content` type, costing wasm size, and loses the JSON path of an
/// error in a field); `tests/registry.rs` checks that it accepts what that derive accepts.
impl<'de> Deserialize<'de> for OpSpec {
    /// `{"op": "mprotect", "addr": ..., ...}` with `op` anywhere in the object: the other
    /// members are kept as their JSON text until `op` says which fields they must be, then
    /// read field by field as the operation's [`Field`]s say (one reader for every operation).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error, MapAccess, Visitor};
        use serde_json::value::RawValue;
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
                let mut rest: Vec<(String, Box<RawValue>)> = Vec::new();
                while let Some(key) = a.next_key::<String>()? {
                    let value: Box<RawValue> = a.next_value()?;
                    if key == "op" {
                        op = Some(value);
                    } else {
                        rest.push((key, value));
                    }
                }
                let Some(op) = op else {
                    return Err(A::Error::missing_field("op"));
                };
                from_members(op.get(), &rest).map_err(A::Error::custom)
            }
        }
        d.deserialize_map(Op)
    }
}

/// The operation named by the JSON text `op`, with the other `members` as its fields. The
/// messages are serde's for a struct with `deny_unknown_fields`, and an error in a member
/// carries the member's name ([`in_member`]).
fn from_members(
    op: &str,
    members: &[(String, Box<serde_json::value::RawValue>)],
) -> Result<OpSpec, String> {
    let Ok(name) = serde_json::from_str::<String>(op) else {
        return Err(in_member("op", "must be a string"));
    };
    let Some(info) = OpInfo::get(&name) else {
        let names: Vec<&str> = REGISTRY.iter().map(|r| r.name).collect();
        return Err(in_member(
            "op",
            &format!(
                "unknown operation `{name}`, expected one of {}",
                names.join(", ")
            ),
        ));
    };
    let mut values: Vec<Option<u64>> = vec![None; info.fields.len()];
    for (key, raw) in members {
        let Some(i) = info.fields.iter().position(|f| f.name == key) else {
            return Err(in_member(
                key,
                &format!("unknown field `{key}`, {}", expected_fields(info.fields)),
            ));
        };
        if values[i].is_some() {
            return Err(in_member(key, &format!("duplicate field `{key}`")));
        }
        let v = match info.fields[i].kind {
            Kind::Number => serde_json::from_str::<Hex>(raw.get()).map(|h| h.0),
            Kind::Prot => serde_json::from_str::<Prot>(raw.get()).map(|p| u64::from(p.0)),
        };
        values[i] = Some(v.map_err(|e| {
            let m = e.to_string();
            let m = m.rfind(" at line ").map_or(m.as_str(), |at| &m[..at]);
            in_member(key, m)
        })?);
    }
    let mut v = Vec::with_capacity(values.len());
    for (x, f) in values.into_iter().zip(info.fields) {
        v.push(x.ok_or_else(|| format!("missing field `{}`", f.name))?);
    }
    Ok(OpSpec::from_values(info.name, &v).expect("as many values as fields"))
}

/// serde's words for the fields a struct takes (`expected one of `addr`, `len``).
fn expected_fields(fields: &[Field]) -> String {
    match fields {
        [] => "there are no fields".to_string(),
        [a] => format!("expected `{}`", a.name),
        [a, b] => format!("expected `{}` or `{}`", a.name, b.name),
        _ => {
            let names: Vec<String> = fields.iter().map(|f| format!("`{}`", f.name)).collect();
            format!("expected one of {}", names.join(", "))
        }
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for OpSpec {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "OpSpec".into()
    }

    /// One object schema per registered operation: `op` its name, the fields by kind.
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        use serde_json::{json, Map, Value};
        let hex = g.subschema_for::<Hex>();
        let prot = g.subschema_for::<Prot>();
        let one_of: Vec<Value> = REGISTRY
            .iter()
            .zip(DOCS)
            .map(|(info, doc)| {
                let mut props: Vec<(&str, Value)> = info
                    .fields
                    .iter()
                    .map(|f| {
                        let s = match f.kind {
                            Kind::Number => &hex,
                            Kind::Prot => &prot,
                        };
                        (f.name, s.clone().to_value())
                    })
                    .collect();
                props.push(("op", json!({"type": "string", "const": info.name})));
                props.sort_by_key(|(n, _)| *n);
                let props: Map<String, Value> =
                    props.into_iter().map(|(n, s)| (n.to_string(), s)).collect();
                let mut required = vec!["op"];
                required.extend(info.fields.iter().map(|f| f.name));
                json!({
                    "description": doc,
                    "type": "object",
                    "properties": props,
                    "additionalProperties": false,
                    "required": required,
                })
            })
            .collect();
        schemars::json_schema!({
            "description": "One operation of a thread, as written in a scenario.\n\nDeserialised by hand (see [`OpSpec::deserialize`]) so that an error in a field keeps its\nJSON path (`threads[0].ops[1].prot`); serde's internally tagged enums lose it.",
            "oneOf": one_of,
        })
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

/// Look up a listing line.
pub fn line(r: LineRef) -> Line {
    r.listing.lines()[r.line as usize]
}

/// The whole listing (unfiltered; use [`Line::when`] to filter by kernel).
pub fn listing(l: Listing) -> &'static [Line] {
    l.lines()
}

/// Shorthand used by the listings: a line shown the same on both kernels (see
/// [`Line::v64`] for one that differs).
pub(crate) const fn ln(
    indent: u8,
    text: &'static str,
    func: &'static str,
    file: &'static str,
    when: crate::record::When,
) -> Line {
    Line::new(indent, text, func, file, when)
}
