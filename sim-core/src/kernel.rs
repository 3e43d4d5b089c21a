//! Which kernel the machine runs: a real version (v6.3 or v6.4), optional what-if mutations
//! that no real kernel has, and optional historical variants — one mechanism reverted to how
//! an older Linux behaved before a famous bug was fixed.

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

/// A real kernel's behaviour before a fix: the modelled kernel with **one mechanism reverted**
/// to how an older Linux did it, so that a famous bug can be stepped through on today's model
/// and set beside its fix. Everything else stays the modelled version (as a what-if is the
/// modelled version with one hypothetical change); bookkeeping the old kernel did not have
/// (PageAnonExclusive) is still kept, and no historical decision reads it. Shown everywhere
/// with its own badge ([`Historical::badge`]), never as a what-if.
///
/// The facts about each variant (what it reverts, the CVE, the fixing commits) are one row of
/// [`HISTORICAL`]; a new variant is a variant here, a row there, and the listing lines and
/// step code that read [`Kernel::historical`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Historical {
    /// `__get_user_pages` as in Linux ≤ 4.8.2: the follow checks only `pte_write`, and
    /// `faultin_page` drops FOLL_WRITE once a fault broke COW in a VMA without VM_WRITE.
    DirtyCow,
    /// Copy-on-write and GUP as in Linux ≤ 5.7: a read-only GUP never unshares,
    /// `do_wp_page` reuses an anonymous page mapped once whatever references it has, and
    /// fork shares pages that may be pinned.
    CowEitherWay,
    /// `dup_mmap` as in Linux 6.4.0–6.4.2: the parent's VMAs are not write-locked, so
    /// per-VMA-lock page faults run during fork.
    ForkNoVmaLock,
}

/// A commit in Linus Torvalds' tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Commit {
    /// The 12-digit abbreviation kernel developers quote.
    pub hash: &'static str,
    /// The full hash (for the link).
    pub full: &'static str,
    /// Its subject line.
    pub title: &'static str,
    /// The first release (and stable release, if any) that carries it.
    pub release: &'static str,
}

impl Commit {
    /// The commit's page on git.kernel.org.
    pub fn url(&self) -> String {
        format!(
            "https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/commit/?id={}",
            self.full
        )
    }
}

/// What is known about a historical variant (one row per variant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct HistoricalInfo {
    pub variant: Historical,
    /// Which kernels behaved like this: `Linux ≤ 4.8.2`.
    pub behaves_as: &'static str,
    /// The CVE of the bug, if it has one.
    pub cve: Option<&'static str>,
    /// The commits that fixed it, first the one that closed the bug.
    pub fixes: &'static [Commit],
    /// One paragraph: the mechanism as it was, and what went wrong.
    pub summary: &'static str,
    /// The variant only makes sense on v6.4 (it reverts a v6.4 mechanism).
    pub needs_v64: bool,
}

/// Every historical variant, in [`Historical::ALL`]'s order.
pub const HISTORICAL: &[HistoricalInfo] = &[
    HistoricalInfo {
        variant: Historical::DirtyCow,
        behaves_as: "Linux ≤ 4.8.2",
        cve: Some("CVE-2016-5195"),
        fixes: &[Commit {
            hash: "19be0eaffa3a",
            full: "19be0eaffa3ac7d8eb6784ad9bdbc7d67ed8e619",
            title: "mm: remove gup_flags FOLL_WRITE games from __get_user_pages()",
            release: "v4.9 (stable v4.8.3)",
        }],
        summary: "Dirty COW. get_user_pages with FOLL_FORCE|FOLL_WRITE on a read-only private mapping: the write fault gives the process a read-only, dirty anonymous copy, and since follow_page_pte only accepted writable PTEs, faultin_page then dropped FOLL_WRITE so that the retry would take the copy. If MADV_DONTNEED zapped the copy first, the retry — now a read — faulted the file's page-cache page in and returned it, and the write went into the file.",
        needs_v64: false,
    },
    HistoricalInfo {
        variant: Historical::CowEitherWay,
        behaves_as: "Linux ≤ 5.7",
        cve: Some("CVE-2020-29374"),
        fixes: &[
            Commit {
                hash: "17839856fd58",
                full: "17839856fd588f4ab6b789f482ed3ffd7c403e1f",
                title: "gup: document and work around \"COW can break either way\" issue",
                release: "v5.8",
            },
            Commit {
                hash: "6c287605fd56",
                full: "6c287605fd56466e645693eff3ae7c08fba56e0a",
                title: "mm: remember exclusively mapped anonymous pages with PG_anon_exclusive",
                release: "v5.19",
            },
        ],
        summary: "COW can break either way. A read-only GUP took a reference on a page shared copy-on-write after fork without unsharing it, and do_wp_page reused any anonymous page mapped only once, whatever references it had. A child that pinned a page shared with its parent (vmsplice) and then unmapped it left the parent as the page's only mapper: the parent's next write reused the pinned page, and the child read the parent's later data through its pin.",
        needs_v64: false,
    },
    HistoricalInfo {
        variant: Historical::ForkNoVmaLock,
        behaves_as: "Linux 6.4.0–6.4.2",
        cve: None,
        fixes: &[Commit {
            hash: "fb49c455323f",
            full: "fb49c455323ff8319a123dd312be9082c49a23a5",
            title: "fork: lock VMAs of the parent process when forking",
            release: "v6.5-rc1 (stable v6.4.3)",
        }],
        summary: "Per-VMA locks let page faults run without mmap_lock, but dup_mmap still relied on holding mmap_lock for write to keep the parent's faults out. fork write-protects the parent's anonymous PTEs and flushes the parent's TLB only at its end; a write fault in between copied the now shared page while another CPU could still write to the old one through a stale writable TLB entry, and such writes were lost to the parent (memory corruption, first seen in Go builds).",
        needs_v64: true,
    },
];

impl Historical {
    pub const ALL: [Historical; 3] = [
        Historical::DirtyCow,
        Historical::CowEitherWay,
        Historical::ForkNoVmaLock,
    ];

    /// Its row of [`HISTORICAL`].
    pub fn info(self) -> &'static HistoricalInfo {
        HISTORICAL
            .iter()
            .find(|i| i.variant == self)
            .expect("every variant has a row")
    }

    pub fn id(self) -> &'static str {
        match self {
            Historical::DirtyCow => "dirty-cow",
            Historical::CowEitherWay => "cow-either-way",
            Historical::ForkNoVmaLock => "fork-no-vma-lock",
        }
    }

    /// The fix that closed the bug.
    pub fn fix(self) -> &'static Commit {
        &self.info().fixes[0]
    }

    /// `historical: CVE-2016-5195, fixed by 19be0eaffa3a` (without a CVE: `historical: Linux
    /// 6.4.0–6.4.2, fixed by fb49c455323f`).
    pub fn badge(self) -> String {
        let i = self.info();
        format!(
            "historical: {}, fixed by {}",
            i.cve.unwrap_or(i.behaves_as),
            self.fix().hash
        )
    }

    /// `as Linux ≤ 4.8.2 behaved, before 19be0eaffa3a`.
    pub fn describe(self) -> String {
        format!(
            "as {} behaved, before {}",
            self.info().behaves_as,
            self.fix().hash
        )
    }
}

/// The kernel a scenario runs: a version plus any what-if mutations and historical variants.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Kernel {
    pub version: Version,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub what_if: Vec<Mutation>,
    /// Historical variants: mechanisms reverted to an older Linux's, e.g. `["dirty-cow"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub historical: Vec<Historical>,
}

impl Kernel {
    pub fn new(version: Version) -> Self {
        Kernel {
            version,
            what_if: Vec::new(),
            historical: Vec::new(),
        }
    }
    pub fn has(&self, m: Mutation) -> bool {
        self.what_if.contains(&m)
    }
    /// Whether the kernel runs historical variant `h`.
    pub fn was(&self, h: Historical) -> bool {
        self.historical.contains(&h)
    }
    pub fn is_v64(&self) -> bool {
        self.version == Version::V6_4
    }
    /// The same kernel with every historical variant fixed (what-ifs kept).
    pub fn fixed(&self) -> Kernel {
        Kernel {
            historical: Vec::new(),
            ..self.clone()
        }
    }
    /// e.g. `v6.4 + what-if (c) restore-from-stale-entry`, or `v6.4 + historical dirty-cow (as
    /// Linux ≤ 4.8.2 behaved, before 19be0eaffa3a)`.
    pub fn label(&self) -> String {
        let mut s = self.version.name().to_string();
        for m in &self.what_if {
            s.push_str(&format!(" + what-if ({}) {}", m.letter(), m.id()));
        }
        for h in &self.historical {
            s.push_str(&format!(" + historical {} ({})", h.id(), h.describe()));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What-if and historical ids share the litmus header's `+ <id>` namespace and the
    /// listings' conditions: they must never collide, and every variant has exactly one row.
    #[test]
    fn variant_ids_are_unique_and_every_historical_variant_has_one_row() {
        let mut ids: Vec<&str> = Mutation::ALL.iter().map(|m| m.id()).collect();
        ids.extend(Historical::ALL.iter().map(|h| h.id()));
        ids.push("historical");
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len(), "duplicate id among {ids:?}");
        assert_eq!(HISTORICAL.len(), Historical::ALL.len());
        for h in Historical::ALL {
            assert_eq!(HISTORICAL.iter().filter(|i| i.variant == h).count(), 1);
            let fix = h.fix();
            assert_eq!(fix.hash.len(), 12);
            assert_eq!(fix.full.len(), 40);
            assert!(fix.full.starts_with(fix.hash));
            assert_eq!(
                serde_json::to_string(&h).unwrap(),
                format!("\"{}\"", h.id())
            );
        }
        assert_eq!(
            Historical::DirtyCow.badge(),
            "historical: CVE-2016-5195, fixed by 19be0eaffa3a"
        );
        assert_eq!(
            Historical::ForkNoVmaLock.badge(),
            "historical: Linux 6.4.0–6.4.2, fixed by fb49c455323f"
        );
    }
}
