//! Conditions over states: the `exists (...)` / `forall (...)` of a scenario, in the spirit of
//! herd7's final conditions, evaluated by the explorer over every reachable state.
//!
//! ```text
//! forall any (~(mprotect returned /\ some p in 0x7f0000000000-0x7f0000200000 (pte_present(p) /\ pte_write(p))))
//! exists (result(reader, 0) == 0x42)
//! ~exists any (violated(lost-write))
//! ```
//!
//! A condition is a quantifier, a scope and a predicate:
//! - `exists`: some state in scope satisfies the predicate (the explorer answers with a
//!   shortest schedule reaching one, the *witness*); `~exists`: none does (herd7's
//!   spelling); `forall`: every state in scope does (a shortest schedule to one that does
//!   not is the *counterexample*). `forall any (P)` is a user-written invariant, `exists any
//!   (P)` a reachability question.
//! - The scope: `final` (the default, left out when printed) is the states where no thread
//!   can step — every thread returned or was killed, or the rest are blocked for good (a
//!   deadlock); `any` is every reachable state, the initial one included.
//!
//! # Predicates
//!
//! ```text
//! condition = ("exists" | "~exists" | "forall") ["final" | "any"] "(" pred ")"
//! pred      = conj { "\/" conj }            (or)
//! conj      = unary { "/\" unary }          (and)
//! unary     = "~" unary | "(" pred ")" | atom
//! atom      = "true" | "false"
//!           | THREAD ("returned" | "killed" | "blocked")
//!           | THREAD "holds" lock | "locked" "(" lock ")"
//!           | "violated" "(" INVARIANT ")"
//!           | ENTRY_TEST "(" addr ")"
//!           | ("tlb_cached" | "tlb_writable") "(" NUM "," addr ")"      (cpu, address)
//!           | ("some" | "every") VAR "in" NUM "-" NUM "(" pred ")"      (4 KiB pages)
//!           | value ("==" | "!=" | "&") operand
//! value     = ("pte" | "pmd" | "pte_pfn" | "swp_offset_pfn" | "vm_flags" | "vm_page_prot")
//!               "(" addr ")"
//!           | "data" "(" NUM ")"                                         (frame's data word)
//!           | "result" "(" THREAD "," NUM ")"                            (op's return value)
//! operand   = ["-"] NUM | NAME { "|" NAME }    (NAME: a VM_* flag or a _PAGE_* bit)
//! lock      = "mmap_lock" | "ptl" "(" addr ")" | "pmd_lock" "(" addr ")" | "folio" "(" NUM ")"
//! addr      = NUM | VAR ["+" NUM]
//! THREAD    = WORD | STRING                    (a thread's name, or T0, T1, ... by index)
//! NUM       = hex (0x...) or decimal, `_` separators allowed, at most 64 bits
//! ```
//!
//! `ENTRY_TEST` is a kernel helper applied to the raw entry that maps the address, exactly
//! as the kernel would apply it: `pte_none`, `pte_present`, `pte_write`, `pte_dirty`,
//! `pte_young`, `pte_soft_dirty`, `pte_uffd_wp`, `pte_protnone`, `is_migration_entry`,
//! `is_writable_migration_entry`, `is_readable_migration_entry`,
//! `is_readable_exclusive_migration_entry` on the PTE (an address with no PTE table reads as
//! a none PTE), and `pmd_none`, `pmd_present`, `pmd_trans_huge`, `is_pmd_migration_entry`
//! on the PMD. Being exact has a sharp edge a kernel developer will recognise: `pte_write`
//! tests bit 1, which a swap or migration entry uses as `_PAGE_SWP_SOFT_DIRTY`, so "a
//! writable PTE" is `pte_present(p) /\ pte_write(p)`. `&` is true when the value has any of
//! the operand's bits. A value that does not exist — `vm_flags` of an address no VMA covers,
//! `data` of a frame that is no folio, `result` of an operation that has not returned —
//! makes `==`, `!=` and `&` all false. `violated(id)` is true when the state breaks the
//! invariant or the step that reached it did (`write-after-mprotect-returned` is broken by a
//! store completing, an event of the step), exactly as the invariants panel and the
//! explorer's verdicts say. `result(T, i)` is the return value of T's operation `i`: for a
//! load the word it read, for `mprotect` 0 or `-errno`, for `migrate` 0, `-EBUSY` or
//! `-EFAULT`. `T returned` means T finished all its operations (and was not killed);
//! `killed`, that a fault delivered SIGSEGV; `blocked`, that it has not finished and cannot
//! step now. `holds` and `locked` use the model's lock holders (for `mmap_lock`: the writer
//! or a reader). A thread is written by name (quoted when it is not a word) or as `T<i>`,
//! which names thread `i` when no thread is called that.
//!
//! Limits: [`MAX_TEXT`] characters, [`MAX_DEPTH`] nested levels, [`MAX_ATOMS`] atoms,
//! [`MAX_RANGE_PAGES`] pages per `some`/`every` range, and no `some`/`every` inside another.
//!
//! Printing ([`Display`](std::fmt::Display)) gives the canonical text: it parses back to the
//! same [`Condition`], which is what makes the litmus and JSON forms round-trip. In JSON a
//! condition is that text (`"condition": "exists any (...)"`).

//!
//! The code is in two parts: [`syntax`] (the tree, lexer, parser with column errors and
//! limits, canonical printer, JSON text form) and [`eval`] (thread names resolved against a
//! scenario, evaluation on a machine).

pub mod eval;
pub mod syntax;

pub use eval::*;
pub use syntax::*;
