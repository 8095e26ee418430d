//! Handlers picked at decode time for the hot instruction forms: each
//! knows its operand kinds, operand size and (for memory operands) the
//! code's mode, reads its operands straight from the decoded plan and
//! reaches guest RAM through the host TLB. Whatever such a handler cannot
//! serve (a host TLB miss, a segment rule, a page crossing) it hands, with
//! nothing changed yet, to the instruction's generic handler, which does
//! the whole instruction again the general way.

mod access;
pub use access::data_kind;
mod alu;
mod cond;
mod moves;
mod shift_mul;
mod stack;

use super::operand_plan::{OpPlan, OperandPlan};
use super::Exec;
use crate::cpu::decode_cache::Decoded;
use crate::cpu::fault::Fault;
use crate::cpu::state::RSP;
use iced_x86::{Instruction, Mnemonic as M};

/// What the run loops call for each decoded instruction. A fast handler
/// stays a leaf, with a one-byte result: whatever it cannot serve it
/// leaves, with nothing changed, to `miss`; its fault waits in
/// `Exec::fault`.
pub type FastHandler = fn(&mut Exec, &Decoded) -> Result<(), Exit>;

/// Why a fast handler did not finish its instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Not served here (host TLB miss, segment rule, page crossing): run
    /// the generic handler.
    Miss,
    /// The instruction faults with `Exec::fault`.
    Fault,
}

impl Exec<'_> {
    /// Parks `f` for the run loop.
    #[cold]
    pub fn fault(&mut self, f: Fault) -> Exit {
        self.fault = f;
        Exit::Fault
    }
}

/// Runs `d` with its generic (catalog) handler, whose operand access
/// reads the plan installed here.
pub fn generic(ex: &mut Exec, d: &Decoded) -> Result<(), Exit> {
    run_generic(ex, d).map_err(|f| ex.fault(f))
}

fn run_generic(ex: &mut Exec, d: &Decoded) -> Result<(), Fault> {
    install_plan(ex, d);
    // A fault reports the instruction as it began: RSP as well as RIP
    // (which handlers leave alone, writing `Exec::next_rip`).
    let rsp = ex.s.gpr[RSP];
    if let Err(f) = (d.generic)(ex, &d.insn) {
        ex.s.gpr[RSP] = rsp;
        return Err(f);
    }
    // It may have changed the CPL or EFLAGS.AC.
    ex.host_kind = data_kind(ex);
    Ok(())
}

/// What a fast handler left: its host TLB entry is made for next time if
/// the short path allows the access, then the generic handler runs it.
#[cold]
#[inline(never)]
pub fn miss(ex: &mut Exec, d: &Decoded) -> Result<(), Fault> {
    if !d.plan.mem.unplanned && !access::fill(ex, &d.plan.mem, true) {
        access::fill(ex, &d.plan.mem, false);
    }
    run_generic(ex, d)
}

/// Lets the general operand path serve `d`, and has the fast loop look
/// at the machine after it.
#[inline(always)]
fn install_plan(ex: &mut Exec, d: &Decoded) {
    ex.plan = d.plan;
    ex.plan_insn = &d.insn;
    ex.slow_step = true;
}

/// The operand shapes the fast handlers cover (operand 0, operand 1).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Form {
    RegReg,
    RegImm,
    RegMem,
    MemReg,
    MemImm,
}

const RR: u8 = Form::RegReg as u8;
const RI: u8 = Form::RegImm as u8;
const RM: u8 = Form::RegMem as u8;
const MR: u8 = Form::MemReg as u8;
const MI: u8 = Form::MemImm as u8;

fn form(plan: &OperandPlan) -> Option<Form> {
    Some(match plan.ops {
        [OpPlan::Gpr(_), OpPlan::Gpr(_)] => Form::RegReg,
        [OpPlan::Gpr(_), OpPlan::Imm] => Form::RegImm,
        [OpPlan::Gpr(_), OpPlan::Mem] if !plan.mem.unplanned => Form::RegMem,
        [OpPlan::Mem, OpPlan::Gpr(_)] if !plan.mem.unplanned => Form::MemReg,
        [OpPlan::Mem, OpPlan::Imm] if !plan.mem.unplanned => Form::MemImm,
        _ => return None,
    })
}

/// Operand size of operand `n` as a table index: 0..=3 for 1, 2, 4, 8
/// bytes.
fn size_index(plan: &OperandPlan, n: usize) -> Option<usize> {
    Some(match plan.sizes[n] {
        1 => 0,
        2 => 1,
        4 => 2,
        8 => 3,
        _ => return None,
    })
}

/// The handler to run `insn` with: a fast one when its form is covered,
/// else `generic` through the plan-installing trampoline. `bitness` is the
/// code size the block was decoded for (a block only ever runs in it).
pub fn select(insn: &Instruction, plan: &mut OperandPlan, bitness: u32) -> FastHandler {
    if let Some(h) = cond::select(insn, plan, bitness) {
        return h;
    }
    if insn.has_lock_prefix() {
        return generic;
    }
    let long = bitness == 64;
    if let Some(h) = stack::select(insn, plan, bitness) {
        return h;
    }
    if let Some(h) = shift_or_multiply(insn, plan, long) {
        return h;
    }
    if insn.op_count() != 2 {
        return generic;
    }
    let Some(form) = form(plan) else {
        return generic;
    };
    let picked = match insn.mnemonic() {
        M::Mov => size_index(plan, 0).map(|s| moves::mov(form, s, long)),
        M::Movzx | M::Movsx | M::Movsxd if matches!(form, Form::RegReg | Form::RegMem) => {
            let sign = insn.mnemonic() != M::Movzx;
            match (size_index(plan, 0), size_index(plan, 1)) {
                (Some(d), Some(s)) if s < d => Some(moves::extend(form, sign, d, s, long)),
                _ => None,
            }
        }
        M::Lea if form == Form::RegMem => size_index(plan, 0).map(moves::lea),
        m => {
            alu::op_of(m).and_then(|op| size_index(plan, 0).map(|s| alu::binary(op, form, s, long)))
        }
    };
    picked.unwrap_or(generic)
}

/// Shifts of a register by an immediate or CL, and IMUL's two- and
/// three-operand forms.
fn shift_or_multiply(insn: &Instruction, plan: &OperandPlan, long: bool) -> Option<FastHandler> {
    let s = size_index(plan, 0)?;
    match (insn.mnemonic(), plan.ops) {
        (M::Shl | M::Sal | M::Shr | M::Sar, [OpPlan::Gpr(_), OpPlan::Imm | OpPlan::Gpr(_)])
            if insn.op_count() == 2 =>
        {
            shift_mul::shift(insn.mnemonic(), s)
        }
        (M::Imul, [OpPlan::Gpr(_), OpPlan::Gpr(_) | OpPlan::Mem]) if insn.op_count() >= 2 => {
            let mem = plan.ops[1] == OpPlan::Mem;
            if mem && plan.mem.unplanned {
                return None;
            }
            shift_mul::imul(s, mem, insn.op_count() == 3, long)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
