//! x86-64 page-table entry encoding: the one place that knows bit numbers.
//!
//! Everything here works on raw `u64` entry values exactly as the hardware and Linux v6.3/v6.4
//! see them (`arch/x86/include/asm/pgtable_types.h`, `pgtable.h`, `pgtable_64.h`,
//! `pgtable-invert.h`, `include/linux/swapops.h`). The helpers are named after the kernel
//! helpers they model (`pte_mkwrite`, `pte_modify`, `pmd_mkinvalid`, ...) and behave like them
//! on x86-64 with 4-level paging, NX supported, no pkeys in use and no SME C-bit.
//!
//! Two x86 details matter for showing *real* values:
//! - **L1TF PFN inversion**: a non-zero entry whose P bit is clear (a PROT_NONE PTE, an
//!   invalidated huge PMD, a swap entry) stores its PFN/offset bits inverted, so that a
//!   speculative walk never points at real memory (`pgtable-invert.h`). `pfn_pte`,
//!   `pte_pfn`, `pte_modify` and `pmd_mkinvalid` flip the bits when that status changes.
//! - **Swap entries** (migration entries are swap entries): type in bits 59–63, the offset
//!   stored inverted in bits 9–58, and three software flags in bits 1–3.

/// Bit numbers (`_PAGE_BIT_*`).
pub mod bit {
    pub const PRESENT: u32 = 0;
    pub const RW: u32 = 1;
    pub const USER: u32 = 2;
    pub const PWT: u32 = 3;
    pub const PCD: u32 = 4;
    pub const ACCESSED: u32 = 5;
    pub const DIRTY: u32 = 6;
    /// PSE on PMD/PUD entries (huge leaf); PAT on 4 KiB PTEs.
    pub const PSE: u32 = 7;
    /// GLOBAL when present; PROTNONE when P is clear.
    pub const GLOBAL: u32 = 8;
    pub const SPECIAL: u32 = 9;
    pub const UFFD_WP: u32 = 10;
    pub const SOFT_DIRTY: u32 = 11;
    pub const PAT_LARGE: u32 = 12;
    /// `_PAGE_BIT_SOFTW4` = DEVMAP in v6.3/v6.4.
    pub const DEVMAP: u32 = 58;
    pub const NX: u32 = 63;
}

pub const PRESENT: u64 = 1 << bit::PRESENT;
pub const RW: u64 = 1 << bit::RW;
pub const USER: u64 = 1 << bit::USER;
pub const PWT: u64 = 1 << bit::PWT;
pub const PCD: u64 = 1 << bit::PCD;
pub const ACCESSED: u64 = 1 << bit::ACCESSED;
pub const DIRTY: u64 = 1 << bit::DIRTY;
pub const PSE: u64 = 1 << bit::PSE;
pub const PAT: u64 = 1 << bit::PSE;
pub const GLOBAL: u64 = 1 << bit::GLOBAL;
pub const PROTNONE: u64 = 1 << bit::GLOBAL;
pub const SPECIAL: u64 = 1 << bit::SPECIAL;
pub const UFFD_WP: u64 = 1 << bit::UFFD_WP;
pub const SOFT_DIRTY: u64 = 1 << bit::SOFT_DIRTY;
pub const PAT_LARGE: u64 = 1 << bit::PAT_LARGE;
pub const DEVMAP: u64 = 1 << bit::DEVMAP;
pub const NX: u64 = 1 << bit::NX;
/// Protection-key bits 59–62.
pub const PKEY_MASK: u64 = 0xf << 59;

/// `__PHYSICAL_MASK_SHIFT` = 52: PFN bits 12–51 (`PTE_PFN_MASK`).
pub const PTE_PFN_MASK: u64 = 0x000f_ffff_ffff_f000;
/// PFN bits of a 2 MiB leaf: 21–51 (`PHYSICAL_PMD_PAGE_MASK`).
pub const PMD_PFN_MASK: u64 = 0x000f_ffff_ffe0_0000;

pub const PAGE_SHIFT: u32 = 12;
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
pub const PMD_SHIFT: u32 = 21;
pub const PMD_SIZE: u64 = 1 << PMD_SHIFT;
/// 512 entries per table, `HPAGE_PMD_NR` pages per THP.
pub const PTRS_PER_TABLE: u64 = 512;
pub const HPAGE_PMD_ORDER: u8 = 9;

/// `_PAGE_TABLE`: what `pmd_populate` stores next to the PTE table's PFN (P|RW|USER|A|D).
pub const PAGE_TABLE: u64 = PRESENT | RW | USER | ACCESSED | DIRTY;

/// `_PAGE_CHG_MASK` (v6.3/v6.4): the bits `pte_modify` keeps from the old entry.
pub const PAGE_CHG_MASK: u64 =
    PTE_PFN_MASK | PCD | PWT | SPECIAL | ACCESSED | DIRTY | SOFT_DIRTY | DEVMAP | UFFD_WP;
/// `_HPAGE_CHG_MASK`: the PMD variant also keeps PSE.
pub const HPAGE_CHG_MASK: u64 = PAGE_CHG_MASK | PSE;

/// Software bits ignored by `pte_flags_need_flush` (SOFTW1..4).
const SOFTWARE_FLAGS: u64 = SPECIAL | UFFD_WP | SOFT_DIRTY | DEVMAP;
const FLUSH_ON_CLEAR: u64 = DIRTY | PRESENT | ACCESSED;
const FLUSH_ON_CHANGE: u64 =
    RW | USER | PWT | PCD | PSE | GLOBAL | PAT | PAT_LARGE | PKEY_MASK | NX;

// ---------------------------------------------------------------------------------------
// L1TF inversion (`arch/x86/include/asm/pgtable-invert.h`)

/// `__pte_needs_invert`: any non-zero entry with P clear has its PFN bits stored inverted.
pub fn needs_invert(val: u64) -> bool {
    val != 0 && val & PRESENT == 0
}

fn protnone_mask(val: u64) -> u64 {
    if needs_invert(val) {
        !0
    } else {
        0
    }
}

/// `flip_protnone_guard`: when an edit changes the inversion status, flip the PFN bits.
fn flip_protnone_guard(oldval: u64, val: u64, mask: u64) -> u64 {
    if needs_invert(oldval) != needs_invert(val) {
        (val & !mask) | (!val & mask)
    } else {
        val
    }
}

// ---------------------------------------------------------------------------------------
// PTEs

/// `pfn_pte(pfn, prot)` / `mk_pte(page, prot)`.
pub fn pfn_pte(pfn: u64, prot: u64) -> u64 {
    let mut phys = pfn << PAGE_SHIFT;
    phys ^= protnone_mask(prot);
    phys &= PTE_PFN_MASK;
    phys | prot
}

/// `pte_pfn`: undoes the inversion for PROT_NONE entries.
pub fn pte_pfn(pte: u64) -> u64 {
    let v = pte ^ protnone_mask(pte);
    (v & PTE_PFN_MASK) >> PAGE_SHIFT
}

/// `pte_flags`: everything but the PFN.
pub fn pte_flags(pte: u64) -> u64 {
    pte & !PTE_PFN_MASK
}

/// `pte_none` on x86 ignores A and D (Knights Landing erratum may set them on empty entries).
pub fn pte_none(pte: u64) -> bool {
    pte & !(ACCESSED | DIRTY) == 0
}

/// `pte_present`: P or PROTNONE (a PROT_NONE PTE is present to software, not to hardware).
pub fn pte_present(pte: u64) -> bool {
    pte & (PRESENT | PROTNONE) != 0
}

/// `pte_protnone`: PROTNONE set and P clear.
pub fn pte_protnone(pte: u64) -> bool {
    pte & (PRESENT | PROTNONE) == PROTNONE
}

/// `is_swap_pte`: neither none nor present (swap, migration, device, marker entries).
pub fn is_swap_pte(pte: u64) -> bool {
    !pte_none(pte) && !pte_present(pte)
}

pub fn pte_write(pte: u64) -> bool {
    pte & RW != 0
}
pub fn pte_dirty(pte: u64) -> bool {
    pte & DIRTY != 0
}
pub fn pte_young(pte: u64) -> bool {
    pte & ACCESSED != 0
}
pub fn pte_soft_dirty(pte: u64) -> bool {
    pte & SOFT_DIRTY != 0
}
pub fn pte_uffd_wp(pte: u64) -> bool {
    pte & UFFD_WP != 0
}

pub fn pte_mkwrite(pte: u64) -> u64 {
    pte | RW
}
pub fn pte_wrprotect(pte: u64) -> u64 {
    pte & !RW
}
/// x86 v6.3/v6.4 `pte_mkdirty` sets D and SOFT_DIRTY (never RW: that was sparc64's bug).
pub fn pte_mkdirty(pte: u64) -> u64 {
    pte | DIRTY | SOFT_DIRTY
}
pub fn pte_mkclean(pte: u64) -> u64 {
    pte & !DIRTY
}
pub fn pte_mkyoung(pte: u64) -> u64 {
    pte | ACCESSED
}
pub fn pte_mkold(pte: u64) -> u64 {
    pte & !ACCESSED
}
pub fn pte_mksoft_dirty(pte: u64) -> u64 {
    pte | SOFT_DIRTY
}
/// `pte_mkuffd_wp` sets UFFD_WP *and* write-protects (v6.2+).
pub fn pte_mkuffd_wp(pte: u64) -> u64 {
    pte_wrprotect(pte | UFFD_WP)
}

/// `pte_modify(pte, newprot)`: keep `_PAGE_CHG_MASK` bits, take the rest from `newprot`,
/// and re-invert the PFN if the entry's P status changes (PROT_NONE ↔ accessible).
pub fn pte_modify(pte: u64, newprot: u64) -> u64 {
    let mut val = pte & PAGE_CHG_MASK;
    val |= newprot & !PAGE_CHG_MASK;
    flip_protnone_guard(pte, val, PTE_PFN_MASK)
}

/// x86 `pte_needs_flush(old, new)` (`arch/x86/include/asm/tlbflush.h`, v6.0+): no flush
/// if the old entry was not hardware-present; flush if the PFN changed, if P or D was
/// cleared, or if a permission/cache bit changed. A and the software bits are ignored.
pub fn pte_needs_flush(old: u64, new: u64) -> bool {
    if old & PRESENT == 0 {
        return false;
    }
    if pte_pfn(old) != pte_pfn(new) {
        return true;
    }
    flags_need_flush(pte_flags(old), pte_flags(new), true)
}

/// x86 `huge_pmd_needs_flush`: like `pte_needs_flush` but the A bit counts.
pub fn huge_pmd_needs_flush(old: u64, new: u64) -> bool {
    if old & PRESENT == 0 {
        return false;
    }
    if pmd_pfn(old) != pmd_pfn(new) {
        return true;
    }
    flags_need_flush(old & !PMD_PFN_MASK, new & !PMD_PFN_MASK, false)
}

fn flags_need_flush(old: u64, new: u64, ignore_access: bool) -> bool {
    let mut diff = (old ^ new) & !SOFTWARE_FLAGS;
    if ignore_access {
        diff &= !ACCESSED;
    }
    diff & old & FLUSH_ON_CLEAR != 0 || diff & FLUSH_ON_CHANGE != 0
}

// ---------------------------------------------------------------------------------------
// PMDs

/// `mk_huge_pmd(page, prot)`: `pfn_pmd` (with the inversion decided by `prot`) + PSE.
pub fn mk_huge_pmd(pfn: u64, prot: u64) -> u64 {
    let mut phys = pfn << PAGE_SHIFT;
    phys ^= protnone_mask(prot);
    phys &= PMD_PFN_MASK;
    phys | prot | PSE
}

/// `pmd_pfn_mask`: a huge leaf (PSE) keeps its PFN in bits 21–51, anything else in 12–51.
fn pmd_pfn_mask(pmd: u64) -> u64 {
    if pmd & PSE != 0 {
        PMD_PFN_MASK
    } else {
        PTE_PFN_MASK
    }
}

/// `pmd_pfn` (undoing the L1TF inversion of a non-present entry).
pub fn pmd_pfn(pmd: u64) -> u64 {
    let v = pmd ^ protnone_mask(pmd);
    (v & pmd_pfn_mask(pmd)) >> PAGE_SHIFT
}

/// The PFN of the PTE-table page a table PMD points at.
pub fn pmd_table_pfn(pmd: u64) -> u64 {
    (pmd & PTE_PFN_MASK) >> PAGE_SHIFT
}

/// `pmd_populate`: point a PMD at a PTE-table page.
pub fn pmd_populate(table_pfn: u64) -> u64 {
    (table_pfn << PAGE_SHIFT) | PAGE_TABLE
}

pub fn pmd_none(pmd: u64) -> bool {
    pmd == 0
}
/// `pmd_present` on x86 also accepts PSE, so an invalidated huge PMD still counts.
pub fn pmd_present(pmd: u64) -> bool {
    pmd & (PRESENT | PROTNONE | PSE) != 0
}
/// `pmd_trans_huge`: PSE set, DEVMAP clear.
pub fn pmd_trans_huge(pmd: u64) -> bool {
    pmd & (PSE | DEVMAP) == PSE
}
/// `is_swap_pmd`: not none and not present (a PMD migration entry).
pub fn is_swap_pmd(pmd: u64) -> bool {
    !pmd_none(pmd) && !pmd_present(pmd)
}
/// A PMD that points at a PTE table (present, not a leaf).
pub fn pmd_is_table(pmd: u64) -> bool {
    pmd & PRESENT != 0 && pmd & PSE == 0
}

/// `pmd_mkinvalid`: clear P and PROTNONE, keep PSE; the PFN is re-encoded and so ends up
/// inverted (the entry is now non-zero with P clear).
///
/// It is computed as `pfn_pmd(pmd_pfn(pmd), pmd_flags(pmd) & ~(P|PROTNONE))`, exactly: on a
/// non-huge value (v6.3/v6.4 also invalidate PMD *migration* entries) `pmd_flags` keeps only
/// bits 0–11 and 52–63 while `pfn_pmd` keeps bits 21–51, so offset bits 12–20 are lost in
/// the transient value (the split reads the old value, so nothing uses them).
pub fn pmd_mkinvalid(pmd: u64) -> u64 {
    let pfn = pmd_pfn(pmd);
    let flags = (pmd & !pmd_pfn_mask(pmd)) & !(PRESENT | PROTNONE);
    let mut phys = pfn << PAGE_SHIFT;
    phys ^= protnone_mask(flags);
    (phys & PMD_PFN_MASK) | flags
}

/// `pmd_modify(pmd, newprot)`.
pub fn pmd_modify(pmd: u64, newprot: u64) -> u64 {
    let mut val = pmd & HPAGE_CHG_MASK;
    val |= newprot & !HPAGE_CHG_MASK;
    flip_protnone_guard(pmd, val, PMD_PFN_MASK)
}

// The flag helpers are the same bits for PMDs.
pub use pte_dirty as pmd_dirty;
pub use pte_mkdirty as pmd_mkdirty;
pub use pte_mkold as pmd_mkold;
pub use pte_mksoft_dirty as pmd_mksoft_dirty;
pub use pte_mkuffd_wp as pmd_mkuffd_wp;
pub use pte_mkwrite as pmd_mkwrite;
pub use pte_mkyoung as pmd_mkyoung;
pub use pte_soft_dirty as pmd_soft_dirty;
pub use pte_uffd_wp as pmd_uffd_wp;
pub use pte_write as pmd_write;
pub use pte_wrprotect as pmd_wrprotect;
pub use pte_young as pmd_young;

// ---------------------------------------------------------------------------------------
// Swap and migration entries

/// `SWP_TYPE_BITS`: the type lives in bits 59–63 of a non-present entry.
pub const SWP_TYPE_BITS: u32 = 5;
pub const SWP_TYPE_FIRST_BIT: u32 = 64 - SWP_TYPE_BITS;
/// Offset bits start right above PROTNONE (bit 9), so an entry never looks PROT_NONE.
pub const SWP_OFFSET_FIRST_BIT: u32 = bit::GLOBAL + 1;
pub const SWP_OFFSET_SHIFT: u32 = SWP_OFFSET_FIRST_BIT + SWP_TYPE_BITS;

/// Software flags of a swap PTE/PMD (they reuse RW, USER and PWT).
pub const SWP_SOFT_DIRTY: u64 = RW;
pub const SWP_UFFD_WP: u64 = USER;
pub const SWP_EXCLUSIVE: u64 = PWT;
const SWP_FLAGS: u64 = SWP_SOFT_DIRTY | SWP_UFFD_WP | SWP_EXCLUSIVE;

/// Swap types with DEVICE_PRIVATE, MIGRATION, MEMORY_FAILURE and PTE markers enabled
/// (`include/linux/swap.h`): MAX_SWAPFILES = 32 - 4 - 3 - 1 - 1 = 23.
pub mod swp_type {
    pub const HWPOISON: u8 = 23;
    pub const MIGRATION_READ: u8 = 24;
    pub const MIGRATION_READ_EXCLUSIVE: u8 = 25;
    pub const MIGRATION_WRITE: u8 = 26;
    pub const DEVICE_WRITE: u8 = 27;
    pub const DEVICE_READ: u8 = 28;
    pub const DEVICE_EXCLUSIVE_WRITE: u8 = 29;
    pub const DEVICE_EXCLUSIVE_READ: u8 = 30;
    pub const PTE_MARKER: u8 = 31;
}

/// `SWP_PFN_BITS` with 4-level paging: MAX_PHYSMEM_BITS (46) - PAGE_SHIFT.
pub const SWP_PFN_BITS: u32 = 34;
/// Young/dirty flags remembered in a migration entry's offset (v6.1+, 2e3468778dbe).
pub const SWP_MIG_YOUNG_BIT: u32 = SWP_PFN_BITS;
pub const SWP_MIG_DIRTY_BIT: u32 = SWP_PFN_BITS + 1;
pub const SWP_PFN_MASK: u64 = (1 << SWP_PFN_BITS) - 1;

/// `__swp_entry(type, offset)` as a raw entry value: `~offset` in bits 9–58, type in 59–63.
pub fn swp_entry_to_pte(ty: u8, offset: u64) -> u64 {
    ((!offset) << SWP_OFFSET_SHIFT >> SWP_TYPE_BITS) | ((ty as u64) << SWP_TYPE_FIRST_BIT)
}

/// `__swp_type` of a raw swap entry.
pub fn swp_type_of(pte: u64) -> u8 {
    (pte >> SWP_TYPE_FIRST_BIT) as u8
}

/// `__swp_offset` of a raw swap entry (the software flags are outside the offset bits).
pub fn swp_offset_of(pte: u64) -> u64 {
    (!pte) << SWP_TYPE_BITS >> SWP_OFFSET_SHIFT
}

/// Kind of a migration entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MigrationKind {
    Read,
    ReadExclusive,
    Write,
}

impl MigrationKind {
    pub fn swp_type(self) -> u8 {
        match self {
            MigrationKind::Read => swp_type::MIGRATION_READ,
            MigrationKind::ReadExclusive => swp_type::MIGRATION_READ_EXCLUSIVE,
            MigrationKind::Write => swp_type::MIGRATION_WRITE,
        }
    }
    pub fn from_swp_type(ty: u8) -> Option<Self> {
        match ty {
            swp_type::MIGRATION_READ => Some(MigrationKind::Read),
            swp_type::MIGRATION_READ_EXCLUSIVE => Some(MigrationKind::ReadExclusive),
            swp_type::MIGRATION_WRITE => Some(MigrationKind::Write),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            MigrationKind::Read => "read",
            MigrationKind::ReadExclusive => "read-exclusive",
            MigrationKind::Write => "write",
        }
    }
}

/// A decoded migration entry (PTE- or PMD-level: the encoding is the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MigrationEntry {
    pub kind: MigrationKind,
    pub pfn: u64,
    pub young: bool,
    pub dirty: bool,
    /// `_PAGE_SWP_SOFT_DIRTY` of the swap PTE.
    pub soft_dirty: bool,
    /// `_PAGE_SWP_UFFD_WP` of the swap PTE.
    pub uffd_wp: bool,
}

impl MigrationEntry {
    /// Encode as a raw entry value (`make_*_migration_entry`, `make_migration_entry_young`/
    /// `_dirty`, `swp_entry_to_pte`, `pte_swp_mksoft_dirty`, `pte_swp_mkuffd_wp`).
    pub fn encode(self) -> u64 {
        let mut offset = self.pfn & SWP_PFN_MASK;
        if self.young {
            offset |= 1 << SWP_MIG_YOUNG_BIT;
        }
        if self.dirty {
            offset |= 1 << SWP_MIG_DIRTY_BIT;
        }
        let mut v = swp_entry_to_pte(self.kind.swp_type(), offset);
        if self.soft_dirty {
            v |= SWP_SOFT_DIRTY;
        }
        if self.uffd_wp {
            v |= SWP_UFFD_WP;
        }
        v
    }

    /// Decode a raw entry; `None` unless it is a migration entry (`is_migration_entry`).
    pub fn decode(raw: u64) -> Option<Self> {
        if !is_swap_pte(raw) || raw & PSE != 0 {
            return None;
        }
        let kind = MigrationKind::from_swp_type(swp_type_of(raw))?;
        let offset = swp_offset_of(raw & !SWP_FLAGS);
        Some(MigrationEntry {
            kind,
            pfn: offset & SWP_PFN_MASK,
            young: offset & (1 << SWP_MIG_YOUNG_BIT) != 0,
            dirty: offset & (1 << SWP_MIG_DIRTY_BIT) != 0,
            soft_dirty: raw & SWP_SOFT_DIRTY != 0,
            uffd_wp: raw & SWP_UFFD_WP != 0,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Decoding for display

/// What an entry is, for display and for the model's case analysis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    None,
    /// Hardware-present leaf (P set).
    Present,
    /// PROT_NONE: present to software, not to hardware.
    ProtNone,
    /// A present huge PMD made invalid by `pmdp_invalidate` (P clear, PSE kept).
    InvalidatedHuge,
    Migration(MigrationEntry),
    /// A PMD pointing at a PTE table.
    Table,
    /// Some other swap-type entry (not produced by the model, but decodable).
    OtherSwap {
        ty: u8,
        offset: u64,
    },
}

/// Level of an entry: decoding a PMD differs (PSE, table pointers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Pte,
    Pmd,
}

pub fn classify(raw: u64, level: Level) -> EntryKind {
    match level {
        Level::Pte => {
            if pte_none(raw) {
                EntryKind::None
            } else if raw & PRESENT != 0 {
                EntryKind::Present
            } else if raw & PROTNONE != 0 {
                EntryKind::ProtNone
            } else if let Some(m) = MigrationEntry::decode(raw) {
                EntryKind::Migration(m)
            } else {
                EntryKind::OtherSwap {
                    ty: swp_type_of(raw),
                    offset: swp_offset_of(raw & !SWP_FLAGS),
                }
            }
        }
        Level::Pmd => {
            if raw == 0 {
                EntryKind::None
            } else if raw & PSE == 0 && raw & PRESENT != 0 {
                EntryKind::Table
            } else if raw & PRESENT != 0 {
                EntryKind::Present
            } else if raw & PROTNONE != 0 {
                EntryKind::ProtNone
            } else if raw & PSE != 0 {
                EntryKind::InvalidatedHuge
            } else if let Some(m) = MigrationEntry::decode(raw) {
                EntryKind::Migration(m)
            } else {
                EntryKind::OtherSwap {
                    ty: swp_type_of(raw),
                    offset: swp_offset_of(raw & !SWP_FLAGS),
                }
            }
        }
    }
}

/// One named bit for the UI's chips: short label, long name, whether set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct BitChip {
    pub label: &'static str,
    pub name: &'static str,
    pub on: bool,
}

/// The chips shown for a present/PROT_NONE leaf entry, in the order the UI shows them.
pub fn leaf_chips(raw: u64, level: Level) -> Vec<BitChip> {
    let b = |label, name, mask: u64| BitChip {
        label,
        name,
        on: raw & mask != 0,
    };
    let mut v = vec![
        b("P", "_PAGE_PRESENT", PRESENT),
        b("RW", "_PAGE_RW", RW),
        b("U", "_PAGE_USER", USER),
        b("A", "_PAGE_ACCESSED", ACCESSED),
        b("D", "_PAGE_DIRTY", DIRTY),
    ];
    if level == Level::Pmd {
        v.push(b("PSE", "_PAGE_PSE", PSE));
    }
    if raw & PRESENT == 0 {
        v.push(b("PROTNONE", "_PAGE_PROTNONE", PROTNONE));
    } else {
        v.push(b("G", "_PAGE_GLOBAL", GLOBAL));
    }
    v.extend([
        b("SP", "_PAGE_SPECIAL", SPECIAL),
        b("UFFD-WP", "_PAGE_UFFD_WP", UFFD_WP),
        b("SD", "_PAGE_SOFT_DIRTY", SOFT_DIRTY),
        b("NX", "_PAGE_NX", NX),
    ]);
    v
}

/// A one-line human description of an entry, e.g.
/// `present RW U A D SD NX, pfn 0x12345` or `migration: write, pfn 0x12345, young, dirty`.
pub fn describe(raw: u64, level: Level) -> String {
    match classify(raw, level) {
        EntryKind::None => "none".to_string(),
        EntryKind::Table => format!("table, pfn {:#x}", pmd_table_pfn(raw)),
        EntryKind::Migration(m) => {
            let mut s = format!("migration: {}, pfn {:#x}", m.kind.name(), m.pfn);
            for (on, name) in [
                (m.young, "young"),
                (m.dirty, "dirty"),
                (m.soft_dirty, "swp-soft-dirty"),
                (m.uffd_wp, "swp-uffd-wp"),
            ] {
                if on {
                    s.push_str(", ");
                    s.push_str(name);
                }
            }
            s
        }
        EntryKind::OtherSwap { ty, offset } => format!("swap type {ty}, offset {offset:#x}"),
        kind => {
            let what = match kind {
                EntryKind::Present => "present",
                EntryKind::ProtNone => "prot-none",
                _ => "invalidated huge",
            };
            let pfn = if level == Level::Pmd {
                pmd_pfn(raw)
            } else {
                pte_pfn(raw)
            };
            let on: Vec<&str> = leaf_chips(raw, level)
                .into_iter()
                .filter(|c| c.on && c.label != "P" && c.label != "PROTNONE" && c.label != "PSE")
                .map(|c| c.label)
                .collect();
            if on.is_empty() {
                format!("{what}, pfn {pfn:#x}")
            } else {
                format!("{what} {}, pfn {pfn:#x}", on.join(" "))
            }
        }
    }
}

/// Raw value as the UI and CLI print it: `0x` and 16 hex digits.
pub fn hex(raw: u64) -> String {
    format!("{raw:#018x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::{PAGE_COPY, PAGE_NONE};

    const PFN: u64 = 0x12345;

    #[test]
    fn worked_example_write_fault_then_mprotect_read() {
        // do_anonymous_page: mk_pte(PAGE_COPY) -> pte_mkdirty -> pte_mkwrite.
        let pte = pte_mkwrite(pte_mkdirty(pfn_pte(PFN, PAGE_COPY)));
        assert_eq!(pte, 0x8000000012345867);
        // mprotect(PROT_READ): pte_modify with PAGE_READONLY (= PAGE_COPY) keeps A/D/SD.
        let ro = pte_modify(pte, PAGE_COPY);
        assert_eq!(ro, 0x8000000012345865);
        assert!(pte_needs_flush(pte, ro), "RW 1->0 needs a flush");
        assert!(!pte_needs_flush(ro, pte_mkold(ro)), "A is ignored for PTEs");
        assert!(pte_needs_flush(ro, pte_mkclean(ro)), "D 1->0 needs a flush");
        assert!(
            !pte_needs_flush(0, pte),
            "a non-present old entry needs no flush"
        );
    }

    #[test]
    fn worked_migration_entries() {
        let e = |kind, young, dirty, sd| {
            MigrationEntry {
                kind,
                pfn: PFN,
                young,
                dirty,
                soft_dirty: sd,
                uffd_wp: false,
            }
            .encode()
        };
        assert_eq!(e(MigrationKind::Read, true, true, true), 0xc7ffe7fffdb97402);
        assert_eq!(
            e(MigrationKind::ReadExclusive, true, true, true),
            0xcfffe7fffdb97402
        );
        assert_eq!(
            e(MigrationKind::Write, true, true, true),
            0xd7ffe7fffdb97402
        );
        assert_eq!(
            e(MigrationKind::Read, false, false, false),
            0xc7fffffffdb97400
        );
        for raw in [
            0xc7ffe7fffdb97402u64,
            0xcfffe7fffdb97402,
            0xd7ffe7fffdb97402,
        ] {
            let m = MigrationEntry::decode(raw).unwrap();
            assert_eq!(m.pfn, PFN);
            assert!(m.young && m.dirty && m.soft_dirty && !m.uffd_wp);
            assert_eq!(m.encode(), raw);
        }
        assert!(is_swap_pte(0xd7ffe7fffdb97402));
        assert!(!pte_present(0xd7ffe7fffdb97402));
        assert_eq!(
            describe(0xd7ffe7fffdb97402, Level::Pte),
            "migration: write, pfn 0x12345, young, dirty, swp-soft-dirty"
        );
    }

    #[test]
    fn prot_none_inverts_the_pfn_and_back() {
        let pte = 0x8000000012345867;
        let none = pte_modify(pte, PAGE_NONE);
        // P, RW, USER, NX come from PAGE_NONE (PROTNONE|A); PFN bits stored inverted.
        assert_eq!(
            none & !PTE_PFN_MASK,
            PROTNONE | ACCESSED | DIRTY | SOFT_DIRTY
        );
        assert_eq!(none & PTE_PFN_MASK, !(PFN << 12) & PTE_PFN_MASK);
        assert_eq!(none, 0x000fffffedcba960);
        assert_eq!(pte_pfn(none), PFN);
        assert!(pte_present(none) && pte_protnone(none));
        assert_eq!(pte_modify(none, PAGE_COPY), 0x8000000012345865);
        assert_eq!(
            pfn_pte(PFN, PAGE_NONE),
            (!(PFN << 12) & PTE_PFN_MASK) | PAGE_NONE
        );
    }

    #[test]
    fn huge_pmd_invalidate_keeps_pse_and_pfn() {
        let pfn = 0x40000;
        let pmd = pmd_mkwrite(pmd_mkdirty(mk_huge_pmd(pfn, PAGE_COPY)));
        assert_eq!(pmd, 0x80000000400008e7);
        assert!(pmd_trans_huge(pmd) && pmd_present(pmd));
        let inv = pmd_mkinvalid(pmd);
        assert_eq!(inv & (PRESENT | PROTNONE), 0);
        assert!(pmd_present(inv), "pmd_present accepts PSE");
        assert!(!is_swap_pmd(inv));
        assert_eq!(pmd_pfn(inv), pfn);
        assert!(pmd_write(inv) && pmd_dirty(inv));
        assert!(huge_pmd_needs_flush(pmd, inv));
        assert_eq!(classify(inv, Level::Pmd), EntryKind::InvalidatedHuge);
        let ro = pmd_modify(pmd, PAGE_COPY);
        assert_eq!(ro, 0x80000000400008e5);
    }

    #[test]
    fn swap_entry_round_trip_exhaustive_over_types_and_offset_bits() {
        for ty in 0..32u8 {
            for shift in 0..50 {
                let off = 1u64 << shift;
                let raw = swp_entry_to_pte(ty, off);
                assert_eq!(swp_type_of(raw), ty);
                assert_eq!(swp_offset_of(raw), off);
                assert_eq!(raw & (PRESENT | PROTNONE | PSE), 0);
            }
        }
    }

    /// Round trips over many pseudo-random values (a fixed-seed xorshift, so the test is
    /// deterministic and needs no property-testing dependency).
    #[test]
    fn property_round_trips() {
        let mut s = 0x9e3779b97f4a7c15u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for _ in 0..20_000 {
            let r = next();
            let pfn = r & SWP_PFN_MASK;
            let kind = [
                MigrationKind::Read,
                MigrationKind::ReadExclusive,
                MigrationKind::Write,
            ][(r >> 40) as usize % 3];
            let m = MigrationEntry {
                kind,
                pfn,
                young: r & 1 != 0,
                dirty: r & 2 != 0,
                soft_dirty: r & 4 != 0,
                uffd_wp: r & 8 != 0,
            };
            assert_eq!(MigrationEntry::decode(m.encode()), Some(m));
            // pte_modify to PROT_NONE and back restores PFN and the kept bits.
            let pfn40 = next() & (PTE_PFN_MASK >> 12);
            let pte = pfn_pte(pfn40, PAGE_COPY) | (next() & (ACCESSED | DIRTY | SOFT_DIRTY));
            assert_eq!(pte_pfn(pte), pfn40);
            let none = pte_modify(pte, PAGE_NONE);
            assert_eq!(pte_pfn(none), pfn40);
            assert_eq!(pte_modify(none, PAGE_COPY), pte);
            let hpfn = (next() & (PMD_PFN_MASK >> 12)) & !511;
            let pmd = mk_huge_pmd(hpfn, PAGE_COPY);
            assert_eq!(pmd_pfn(pmd), hpfn);
            assert_eq!(pmd_pfn(pmd_mkinvalid(pmd)), hpfn);
        }
    }
}
