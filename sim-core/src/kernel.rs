//! Which kernel the machine runs: a real version (v6.3 or v6.4) plus optional what-if
//! mutations that no real kernel has.

use serde::{Deserialize, Serialize};

/// A real kernel behaviour. The differences that matter (kernel-notes table):
/// - `remove_migration_pte` / `remove_migration_pmd` / `__split_huge_pmd_locked`: v6.3 rechecks
///   the VMA with `maybe_mkwrite` (+ explicit wrprotect); v6.4 trusts the entry's write bit
///   (`pte_mkwrite`, commit 717f95b494ac).
/// - the THP split carries the dirty bit in v6.4, not in v6.3 (sparc64 workaround 624a2c94f5b7);
/// - mprotect copies the swap uffd-wp bit of a writable migration entry in v6.3 only;
/// - page faults try the per-VMA lock first in v6.4 (CONFIG_PER_VMA_LOCK).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Version {
    #[serde(rename = "v6.3")]
    V6_3,
    #[serde(rename = "v6.4")]
    V6_4,
}

impl Version {
    pub fn name(self) -> &'static str {
        match self {
            Version::V6_3 => "v6.3",
            Version::V6_4 => "v6.4",
        }
    }
}

/// Hypothetical kernel changes, each labelled as such wherever it is shown. They exist so
/// that the explorer has something real to find.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Mutation {
    /// (a) mprotect changes PTEs without taking the PT lock.
    MprotectNoPtl,
    /// (b) mprotect walks the page tables before publishing `vm_flags`/`vm_page_prot`.
    MprotectWalkBeforePublish,
    /// (c) `remove_migration_pte` reads the entry under the PT lock, drops the lock, later
    /// re-takes it and builds the new PTE from that stale entry.
    RestoreFromStaleEntry,
    /// (d) mprotect skips its TLB flush.
    MprotectNoFlush,
    /// (e) migration copies the data before flushing the unmapped translation.
    CopyBeforeFlush,
}

impl Mutation {
    pub const ALL: [Mutation; 5] = [
        Mutation::MprotectNoPtl,
        Mutation::MprotectWalkBeforePublish,
        Mutation::RestoreFromStaleEntry,
        Mutation::MprotectNoFlush,
        Mutation::CopyBeforeFlush,
    ];

    /// The letter used in the design documents.
    pub fn letter(self) -> char {
        match self {
            Mutation::MprotectNoPtl => 'a',
            Mutation::MprotectWalkBeforePublish => 'b',
            Mutation::RestoreFromStaleEntry => 'c',
            Mutation::MprotectNoFlush => 'd',
            Mutation::CopyBeforeFlush => 'e',
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            Mutation::MprotectNoPtl => "mprotect-no-ptl",
            Mutation::MprotectWalkBeforePublish => "mprotect-walk-before-publish",
            Mutation::RestoreFromStaleEntry => "restore-from-stale-entry",
            Mutation::MprotectNoFlush => "mprotect-no-flush",
            Mutation::CopyBeforeFlush => "copy-before-flush",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Mutation::MprotectNoPtl => {
                "hypothetical: mprotect changes PTEs without taking the PT lock"
            }
            Mutation::MprotectWalkBeforePublish => {
                "hypothetical: mprotect walks the page tables before publishing vm_flags/vm_page_prot"
            }
            Mutation::RestoreFromStaleEntry => {
                "hypothetical: remove_migration_pte drops the PT lock between reading the entry and writing the new PTE"
            }
            Mutation::MprotectNoFlush => "hypothetical: mprotect skips its TLB flush",
            Mutation::CopyBeforeFlush => {
                "hypothetical: migration copies the data before flushing the unmapped translation"
            }
        }
    }
}

/// The kernel a scenario runs: a version plus any what-if mutations.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Kernel {
    pub version: Version,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub what_if: Vec<Mutation>,
}

impl Kernel {
    pub fn new(version: Version) -> Self {
        Kernel {
            version,
            what_if: Vec::new(),
        }
    }
    pub fn has(&self, m: Mutation) -> bool {
        self.what_if.contains(&m)
    }
    pub fn is_v64(&self) -> bool {
        self.version == Version::V6_4
    }
    /// e.g. `v6.4 + what-if (c) restore-from-stale-entry`.
    pub fn label(&self) -> String {
        let mut s = self.version.name().to_string();
        for m in &self.what_if {
            s.push_str(&format!(" + what-if ({}) {}", m.letter(), m.id()));
        }
        s
    }
}
