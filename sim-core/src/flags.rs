//! `vm_flags`, `PROT_*` and the x86 derivation of `vm_page_prot`.
//!
//! Values are those of `include/linux/mm.h` (v6.3/v6.4) and `arch/x86/mm/pgprot.c`
//! (`protection_map[16]`). The model keeps `vm_flags` as the raw `unsigned long` the kernel
//! has, so the UI can show the real hex next to the decoded names.

use crate::pte::{ACCESSED, NX, PRESENT, PROTNONE, RW, USER};

pub const VM_NONE: u64 = 0x0;
pub const VM_READ: u64 = 0x1;
pub const VM_WRITE: u64 = 0x2;
pub const VM_EXEC: u64 = 0x4;
pub const VM_SHARED: u64 = 0x8;
pub const VM_MAYREAD: u64 = 0x10;
pub const VM_MAYWRITE: u64 = 0x20;
pub const VM_MAYEXEC: u64 = 0x40;
pub const VM_MAYSHARE: u64 = 0x80;
pub const VM_GROWSDOWN: u64 = 0x100;
pub const VM_UFFD_MISSING: u64 = 0x200;
pub const VM_PFNMAP: u64 = 0x400;
pub const VM_UFFD_WP: u64 = 0x1000;
pub const VM_LOCKED: u64 = 0x2000;
pub const VM_IO: u64 = 0x4000;
pub const VM_SEQ_READ: u64 = 0x8000;
pub const VM_RAND_READ: u64 = 0x10000;
pub const VM_DONTCOPY: u64 = 0x20000;
pub const VM_DONTEXPAND: u64 = 0x40000;
pub const VM_LOCKONFAULT: u64 = 0x80000;
pub const VM_ACCOUNT: u64 = 0x100000;
pub const VM_NORESERVE: u64 = 0x200000;
pub const VM_HUGETLB: u64 = 0x400000;
pub const VM_SYNC: u64 = 0x800000;
pub const VM_ARCH_1: u64 = 0x1000000;
pub const VM_WIPEONFORK: u64 = 0x2000000;
pub const VM_DONTDUMP: u64 = 0x4000000;
pub const VM_SOFTDIRTY: u64 = 0x8000000;
pub const VM_MIXEDMAP: u64 = 0x10000000;
pub const VM_HUGEPAGE: u64 = 0x20000000;
pub const VM_NOHUGEPAGE: u64 = 0x40000000;
pub const VM_MERGEABLE: u64 = 0x80000000;

/// Every named flag with its kernel name, for decoding in the UI and for parsing scenarios.
pub const VM_FLAG_NAMES: &[(u64, &str)] = &[
    (VM_READ, "VM_READ"),
    (VM_WRITE, "VM_WRITE"),
    (VM_EXEC, "VM_EXEC"),
    (VM_SHARED, "VM_SHARED"),
    (VM_MAYREAD, "VM_MAYREAD"),
    (VM_MAYWRITE, "VM_MAYWRITE"),
    (VM_MAYEXEC, "VM_MAYEXEC"),
    (VM_MAYSHARE, "VM_MAYSHARE"),
    (VM_GROWSDOWN, "VM_GROWSDOWN"),
    (VM_UFFD_MISSING, "VM_UFFD_MISSING"),
    (VM_PFNMAP, "VM_PFNMAP"),
    (VM_UFFD_WP, "VM_UFFD_WP"),
    (VM_LOCKED, "VM_LOCKED"),
    (VM_IO, "VM_IO"),
    (VM_SEQ_READ, "VM_SEQ_READ"),
    (VM_RAND_READ, "VM_RAND_READ"),
    (VM_DONTCOPY, "VM_DONTCOPY"),
    (VM_DONTEXPAND, "VM_DONTEXPAND"),
    (VM_LOCKONFAULT, "VM_LOCKONFAULT"),
    (VM_ACCOUNT, "VM_ACCOUNT"),
    (VM_NORESERVE, "VM_NORESERVE"),
    (VM_HUGETLB, "VM_HUGETLB"),
    (VM_SYNC, "VM_SYNC"),
    (VM_ARCH_1, "VM_PAT"),
    (VM_WIPEONFORK, "VM_WIPEONFORK"),
    (VM_DONTDUMP, "VM_DONTDUMP"),
    (VM_SOFTDIRTY, "VM_SOFTDIRTY"),
    (VM_MIXEDMAP, "VM_MIXEDMAP"),
    (VM_HUGEPAGE, "VM_HUGEPAGE"),
    (VM_NOHUGEPAGE, "VM_NOHUGEPAGE"),
    (VM_MERGEABLE, "VM_MERGEABLE"),
];

/// Names of the flags set in `flags`, in bit order.
pub fn decode_vm_flags(flags: u64) -> Vec<&'static str> {
    VM_FLAG_NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, name)| *name)
        .collect()
}

/// Look up a flag by kernel name (`"VM_HUGEPAGE"`), for scenario files.
pub fn vm_flag_by_name(name: &str) -> Option<u64> {
    VM_FLAG_NAMES
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(bit, _)| *bit)
}

/// `PROT_*` values of the mprotect(2) ABI.
pub const PROT_NONE: u32 = 0x0;
pub const PROT_READ: u32 = 0x1;
pub const PROT_WRITE: u32 = 0x2;
pub const PROT_EXEC: u32 = 0x4;

/// `PROT_*` bits as the C expression people write, e.g. `PROT_READ|PROT_WRITE`.
pub fn prot_name(prot: u32) -> String {
    if prot == 0 {
        return "PROT_NONE".into();
    }
    let mut parts = Vec::new();
    for (bit, name) in [
        (PROT_READ, "PROT_READ"),
        (PROT_WRITE, "PROT_WRITE"),
        (PROT_EXEC, "PROT_EXEC"),
    ] {
        if prot & bit != 0 {
            parts.push(name);
        }
    }
    parts.join("|")
}

/// `calc_vm_prot_bits(prot, pkey)` without pkeys: PROT_READ/WRITE/EXEC → VM_READ/WRITE/EXEC.
pub fn calc_vm_prot_bits(prot: u32) -> u64 {
    (prot & (PROT_READ | PROT_WRITE | PROT_EXEC)) as u64
}

// x86 pgprot values (`arch/x86/include/asm/pgtable_types.h`).
/// `PAGE_NONE` = PROTNONE | A.
pub const PAGE_NONE: u64 = PROTNONE | ACCESSED;
/// `PAGE_READONLY` = `PAGE_COPY` = P | USER | A | NX: no RW, so every write faults.
pub const PAGE_READONLY: u64 = PRESENT | USER | ACCESSED | NX;
pub const PAGE_COPY: u64 = PAGE_READONLY;
pub const PAGE_SHARED: u64 = PRESENT | RW | USER | ACCESSED | NX;
pub const PAGE_READONLY_EXEC: u64 = PRESENT | USER | ACCESSED;
pub const PAGE_COPY_EXEC: u64 = PAGE_READONLY_EXEC;
pub const PAGE_SHARED_EXEC: u64 = PRESENT | RW | USER | ACCESSED;

/// x86 `protection_map[16]`, indexed by `vm_flags & (VM_READ|VM_WRITE|VM_EXEC|VM_SHARED)`.
/// Private writable entries are `PAGE_COPY*`: COW depends on vm_page_prot never carrying RW.
pub const PROTECTION_MAP: [u64; 16] = [
    PAGE_NONE,          // ---
    PAGE_READONLY,      // r--
    PAGE_COPY,          // -w-
    PAGE_COPY,          // rw-
    PAGE_READONLY_EXEC, // --x
    PAGE_READONLY_EXEC, // r-x
    PAGE_COPY_EXEC,     // -wx
    PAGE_COPY_EXEC,     // rwx
    PAGE_NONE,          // shared ---
    PAGE_READONLY,      // shared r--
    PAGE_SHARED,        // shared -w-
    PAGE_SHARED,        // shared rw-
    PAGE_READONLY_EXEC, // shared --x
    PAGE_READONLY_EXEC, // shared r-x
    PAGE_SHARED_EXEC,   // shared -wx
    PAGE_SHARED_EXEC,   // shared rwx
];

/// `vm_get_page_prot(vm_flags)` on x86 (no pkeys in use, NX supported).
pub fn vm_get_page_prot(vm_flags: u64) -> u64 {
    PROTECTION_MAP[(vm_flags & (VM_READ | VM_WRITE | VM_EXEC | VM_SHARED)) as usize]
}

/// The `vm_flags` of a fresh `mmap(prot, MAP_PRIVATE|MAP_ANONYMOUS)` (`do_mmap` +
/// `mmap_region`): the R/W/X bits, all three VM_MAY* bits, VM_ACCOUNT when writable
/// (commit charge) and VM_SOFTDIRTY (set on every new VMA with CONFIG_MEM_SOFT_DIRTY).
pub fn mmap_private_anon_flags(prot: u32) -> u64 {
    let mut f = calc_vm_prot_bits(prot) | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_SOFTDIRTY;
    if f & VM_WRITE != 0 {
        f |= VM_ACCOUNT;
    }
    f
}

/// `vma_is_accessible`: any of VM_READ/VM_WRITE/VM_EXEC.
pub fn vma_is_accessible(vm_flags: u64) -> bool {
    vm_flags & (VM_READ | VM_WRITE | VM_EXEC) != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_private_anon_rw_mapping() {
        let f = mmap_private_anon_flags(PROT_READ | PROT_WRITE);
        assert_eq!(f, 0x08100073);
        assert_eq!(vm_get_page_prot(f), 0x8000000000000025, "PAGE_COPY: no RW");
        // mprotect(PROT_READ): replace R/W/X, keep the rest (VM_ACCOUNT stays).
        let ro = (f & !(VM_READ | VM_WRITE | VM_EXEC)) | calc_vm_prot_bits(PROT_READ);
        assert_eq!(ro, 0x08100071);
        assert_eq!(vm_get_page_prot(ro), PAGE_READONLY);
        assert_eq!(vm_get_page_prot(ro & !VM_READ), PAGE_NONE);
        assert_eq!(PAGE_NONE, 0x120);
        assert_eq!(PAGE_SHARED, 0x8000000000000027);
    }

    #[test]
    fn decode_names() {
        assert_eq!(
            decode_vm_flags(0x08100071),
            vec![
                "VM_READ",
                "VM_MAYREAD",
                "VM_MAYWRITE",
                "VM_MAYEXEC",
                "VM_ACCOUNT",
                "VM_SOFTDIRTY"
            ]
        );
        assert_eq!(vm_flag_by_name("VM_HUGEPAGE"), Some(0x20000000));
        assert_eq!(prot_name(PROT_READ | PROT_WRITE), "PROT_READ|PROT_WRITE");
    }
}
