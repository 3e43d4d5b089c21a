//! A condition's meaning: thread names resolved against a scenario ([`Condition::compile`])
//! and evaluation on a machine. See [the module docs](super).

use crate::machine::Machine;
use crate::pte::{self, MigrationEntry, MigrationKind, PAGE_SIZE};
use crate::state::{pte_index, LockId};

use super::syntax::*;

// ------------------------------------------------------------------------------- compiling

/// A condition checked against its scenario's threads, ready to evaluate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compiled {
    /// The condition's canonical text.
    pub text: String,
    pub quantifier: Quantifier,
    pub scope: Scope,
    pred: Pred,
    /// Thread names in the order of the scenario (to resolve [`ThreadRef`]s).
    threads: Vec<String>,
    /// The invariants the predicate reads (evaluation needs them checked).
    pub reads_invariants: bool,
}

impl Condition {
    /// Resolve thread references against the scenario's thread names.
    pub fn compile(&self, threads: &[String]) -> Result<Compiled, CompileError> {
        fn walk(p: &Pred, threads: &[String], inv: &mut bool) -> Result<(), CompileError> {
            let check = |t: &ThreadRef| resolve(t, threads).map(|_| ());
            match p {
                Pred::Not(q) => walk(q, threads, inv),
                Pred::And(ps) | Pred::Or(ps) => ps.iter().try_for_each(|q| walk(q, threads, inv)),
                Pred::Pages { body, .. } => walk(body, threads, inv),
                Pred::Thread(t, _) | Pred::Holds(t, _) => check(t),
                Pred::Cmp(Value::Result(t, _), _, _) => check(t),
                Pred::Violated(_) => {
                    *inv = true;
                    Ok(())
                }
                _ => Ok(()),
            }
        }
        let mut inv = false;
        walk(&self.predicate, threads, &mut inv)?;
        Ok(Compiled {
            text: self.to_string(),
            quantifier: self.quantifier,
            scope: self.scope,
            pred: self.predicate.clone(),
            threads: threads.to_vec(),
            reads_invariants: inv,
        })
    }
}

fn resolve(t: &ThreadRef, threads: &[String]) -> Result<usize, CompileError> {
    if let Some(i) = threads.iter().position(|n| *n == t.0) {
        return Ok(i);
    }
    if let Some(i) = t.0.strip_prefix('T').and_then(|d| d.parse::<usize>().ok()) {
        if i < threads.len() {
            return Ok(i);
        }
    }
    Err(CompileError(format!(
        "there is no thread {} (the threads are {})",
        quote(&t.0),
        threads
            .iter()
            .enumerate()
            .map(|(i, n)| format!("T{i} {}", quote(n)))
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

// ------------------------------------------------------------------------------ evaluating

/// What a predicate reads besides the machine: the invariants violated in that state.
pub struct Facts<'a> {
    pub machine: &'a Machine,
    pub violated: &'a [&'static str],
}

impl Compiled {
    /// Whether `machine` is in the condition's scope.
    pub fn in_scope(&self, machine: &Machine) -> bool {
        match self.scope {
            Scope::Any => true,
            Scope::Final => (0..machine.threads.len()).all(|t| !machine.is_runnable(t)),
        }
    }

    /// The predicate's value in a state.
    pub fn holds(&self, facts: &Facts<'_>) -> bool {
        self.eval(&self.pred, facts, None)
    }

    fn tid(&self, t: &ThreadRef) -> usize {
        resolve(t, &self.threads).expect("checked by compile")
    }

    fn eval(&self, p: &Pred, x: &Facts<'_>, var: Option<u64>) -> bool {
        let m = x.machine;
        let addr = |a: &Addr| match a {
            Addr::Num(n) => *n,
            Addr::Var(_, off) => var.expect("bound by the parser").wrapping_add(*off),
        };
        match p {
            Pred::True => true,
            Pred::False => false,
            Pred::Not(q) => !self.eval(q, x, var),
            Pred::And(ps) => ps.iter().all(|q| self.eval(q, x, var)),
            Pred::Or(ps) => ps.iter().any(|q| self.eval(q, x, var)),
            Pred::Thread(t, test) => {
                let tid = self.tid(t);
                match test {
                    ThreadTest::Returned => m.is_finished(tid) && m.threads[tid].killed.is_none(),
                    ThreadTest::Killed => m.threads[tid].killed.is_some(),
                    ThreadTest::Blocked => !m.is_finished(tid) && !m.is_runnable(tid),
                }
            }
            Pred::Holds(t, l) => {
                let tid = self.tid(t);
                let id = lock_id(m, l, &addr);
                match id {
                    Some(LockId::MmapLock) => {
                        m.mm.mmap_lock.writer == Some(tid)
                            || m.mm.mmap_lock.readers.0.contains(&tid)
                    }
                    Some(id) => m.holder(id) == Some(tid),
                    None => false,
                }
            }
            Pred::Locked(l) => match lock_id(m, l, &addr) {
                Some(LockId::MmapLock) => {
                    m.mm.mmap_lock.writer.is_some() || !m.mm.mmap_lock.readers.0.is_empty()
                }
                Some(id) => m.holder(id).is_some(),
                None => false,
            },
            Pred::Violated(id) => x.violated.iter().any(|v| v == id),
            Pred::Entry(t, a) => entry_test(m, *t, addr(a)),
            Pred::Tlb {
                writable,
                cpu,
                addr: a,
            } => {
                let a = addr(a);
                m.cpus
                    .get(*cpu as usize)
                    .and_then(|c| c.lookup(a))
                    .is_some_and(|e| !*writable || e.writable)
            }
            Pred::Pages {
                every,
                start,
                end,
                body,
                ..
            } => {
                let mut pages = (*start..*end).step_by(PAGE_SIZE as usize);
                if *every {
                    pages.all(|a| self.eval(body, x, Some(a)))
                } else {
                    pages.any(|a| self.eval(body, x, Some(a)))
                }
            }
            Pred::Cmp(v, op, rhs) => {
                let lhs = match v {
                    Value::At(what, a) => value_at(m, *what, addr(a)),
                    Value::Data(pfn) => m.folio_of(*pfn).map(|_| m.read_data(*pfn)),
                    Value::Result(t, i) => m.threads[self.tid(t)]
                        .results
                        .get(*i as usize)
                        .map(|&r| r as u64),
                };
                let Some(lhs) = lhs else { return false };
                let rhs = match rhs {
                    Operand::Num { negative, value } => {
                        if *negative {
                            value.wrapping_neg()
                        } else {
                            *value
                        }
                    }
                    Operand::Names(ns) => ns
                        .iter()
                        .filter_map(|n| bit_by_name(n))
                        .fold(0, |a, b| a | b),
                };
                match op {
                    CmpOp::Eq => lhs == rhs,
                    CmpOp::Ne => lhs != rhs,
                    CmpOp::AnyBits => lhs & rhs != 0,
                }
            }
        }
    }
}

fn lock_id(m: &Machine, l: &Lock, addr: &dyn Fn(&Addr) -> u64) -> Option<LockId> {
    Some(match l {
        Lock::MmapLock => LockId::MmapLock,
        Lock::Ptl(a) => LockId::Ptl {
            table_pfn: m.pt.table_of(addr(a))?,
        },
        Lock::PmdLock(a) => Machine::pmd_lock_of(addr(a)),
        Lock::Folio(pfn) => LockId::Folio { pfn: *pfn },
    })
}

/// The PTE mapping `addr` (none when no PTE table covers it).
fn pte_at(m: &Machine, addr: u64) -> u64 {
    m.pt.table_of(addr).map_or(0, |t| m.pte(t, pte_index(addr)))
}

fn migration_kind(raw: u64) -> Option<MigrationKind> {
    MigrationEntry::decode(raw).map(|e| e.kind)
}

fn entry_test(m: &Machine, t: EntryTest, addr: u64) -> bool {
    use EntryTest::*;
    match t {
        PmdNone => pte::pmd_none(m.pmd(addr)),
        PmdPresent => pte::pmd_present(m.pmd(addr)),
        PmdTransHuge => pte::pmd_trans_huge(m.pmd(addr)),
        IsPmdMigrationEntry => {
            let pmd = m.pmd(addr);
            pte::is_swap_pmd(pmd) && MigrationKind::from_swp_type(pte::swp_type_of(pmd)).is_some()
        }
        _ => {
            let v = pte_at(m, addr);
            match t {
                PteNone => pte::pte_none(v),
                PtePresent => pte::pte_present(v),
                PteWrite => pte::pte_write(v),
                PteDirty => pte::pte_dirty(v),
                PteYoung => pte::pte_young(v),
                PteSoftDirty => pte::pte_soft_dirty(v),
                PteUffdWp => pte::pte_uffd_wp(v),
                PteProtnone => pte::pte_protnone(v),
                IsMigrationEntry => migration_kind(v).is_some(),
                IsWritableMigrationEntry => migration_kind(v) == Some(MigrationKind::Write),
                IsReadableMigrationEntry => migration_kind(v) == Some(MigrationKind::Read),
                IsReadableExclusiveMigrationEntry => {
                    migration_kind(v) == Some(MigrationKind::ReadExclusive)
                }
                _ => unreachable!("PMD tests are handled above"),
            }
        }
    }
}

fn value_at(m: &Machine, what: AddrValue, addr: u64) -> Option<u64> {
    match what {
        AddrValue::Pte => Some(pte_at(m, addr)),
        AddrValue::Pmd => Some(m.pmd(addr)),
        AddrValue::PtePfn => Some(pte::pte_pfn(pte_at(m, addr))),
        AddrValue::SwpOffsetPfn => {
            let v = pte_at(m, addr);
            pte::is_swap_pte(v).then(|| pte::swp_offset_of(v) & pte::SWP_PFN_MASK)
        }
        AddrValue::VmFlags => m.mm.find_vma(addr).map(|v| v.vm_flags),
        AddrValue::VmPageProt => m.mm.find_vma(addr).map(|v| v.vm_page_prot),
    }
}
