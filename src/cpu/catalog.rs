//! The opcode catalog: one entry per `iced_x86::Code` saying which handler
//! runs it and how it shapes decoding (does it end a block, may it take
//! LOCK). Dispatch, trace names and (later) "can the JIT translate this?"
//! all read this one table.

use super::exec::{self as x, Exec};
use super::fault::Fault;
use iced_x86::{Code, Instruction, Mnemonic as M};
use std::sync::OnceLock;

pub type Handler = fn(&mut Exec, &Instruction) -> Result<(), Fault>;

#[derive(Clone, Copy)]
pub struct Entry {
    pub handler: Handler,
    /// Ends the decoded block (the instruction changes how code after it
    /// decodes or must let the run loop look at the machine).
    pub ends_block: bool,
    /// LOCK is allowed (with a memory destination).
    pub lockable: bool,
    /// Implemented (false: the handler raises #UD).
    pub implemented: bool,
}

fn entry_for(code: Code) -> Entry {
    let mnemonic = code.mnemonic();
    let (handler, lockable): (Handler, bool) = match mnemonic {
        M::Add => (x::add, true),
        M::Adc => (x::adc, true),
        M::Sub => (x::sub, true),
        M::Sbb => (x::sbb, true),
        M::Cmp => (x::cmp, false),
        M::Inc => (x::inc, true),
        M::Dec => (x::dec, true),
        M::Neg => (x::neg, true),
        M::And => (x::and, true),
        M::Or => (x::or, true),
        M::Xor => (x::xor, true),
        M::Test => (x::test, false),
        M::Not => (x::not, true),
        M::Rol | M::Ror | M::Rcl | M::Rcr | M::Shl | M::Sal | M::Shr | M::Sar => (x::shift, false),
        M::Shld | M::Shrd => (x::double_shift, false),
        M::Mul => (x::mul, false),
        M::Imul => (x::imul, false),
        M::Div => (x::div, false),
        M::Idiv => (x::idiv, false),
        M::Daa => (x::daa, false),
        M::Das => (x::das, false),
        M::Aaa => (x::aaa, false),
        M::Aas => (x::aas, false),
        M::Aam => (x::aam, false),
        M::Aad => (x::aad, false),
        M::Salc => (x::salc, false),
        M::Bt => (x::bit_test, false),
        M::Bts | M::Btr | M::Btc => (x::bit_test, true),
        M::Bsf | M::Bsr | M::Tzcnt | M::Lzcnt => (x::bit_scan, false),
        M::Bswap => (x::bswap, false),
        M::Popcnt => (x::popcnt, false),
        M::Crc32 => (x::crc32, false),
        M::Mov => match code {
            Code::Mov_r32_cr | Code::Mov_r64_cr | Code::Mov_cr_r32 | Code::Mov_cr_r64 => {
                (x::mov_cr as Handler, false)
            }
            Code::Mov_r32_dr | Code::Mov_r64_dr | Code::Mov_dr_r32 | Code::Mov_dr_r64 => {
                (x::mov_dr as Handler, false)
            }
            Code::Mov_r32_tr | Code::Mov_tr_r32 => (x::ud as Handler, false),
            _ => (x::mov as Handler, false),
        },
        M::Movzx => (x::movzx, false),
        M::Movsx | M::Movsxd => (x::movsx, false),
        M::Xchg => (x::xchg, true),
        M::Lea => (x::lea, false),
        M::Lds | M::Les | M::Lss | M::Lfs | M::Lgs => (x::load_far_pointer, false),
        M::Cbw | M::Cwde | M::Cdqe => (x::widen_accumulator, false),
        M::Cwd | M::Cdq | M::Cqo => (x::sign_into_dx, false),
        M::Xlatb => (x::xlat, false),
        M::Lahf => (x::lahf, false),
        M::Sahf => (x::sahf, false),
        M::Cmovo
        | M::Cmovno
        | M::Cmovb
        | M::Cmovae
        | M::Cmove
        | M::Cmovne
        | M::Cmovbe
        | M::Cmova
        | M::Cmovs
        | M::Cmovns
        | M::Cmovp
        | M::Cmovnp
        | M::Cmovl
        | M::Cmovge
        | M::Cmovle
        | M::Cmovg => (x::cmovcc, false),
        M::Seto
        | M::Setno
        | M::Setb
        | M::Setae
        | M::Sete
        | M::Setne
        | M::Setbe
        | M::Seta
        | M::Sets
        | M::Setns
        | M::Setp
        | M::Setnp
        | M::Setl
        | M::Setge
        | M::Setle
        | M::Setg => (x::setcc, false),
        M::Cmpxchg => (x::cmpxchg, true),
        M::Xadd => (x::xadd, true),
        M::Cmpxchg8b | M::Cmpxchg16b => (x::cmpxchg_wide, true),
        // ENDBR32/64 are hint NOPs on a CPU without CET (CPUID reports
        // none); userlands built with -fcf-protection start functions with
        // them. The reserved-NOP space 0F 18-1F is NOP as well.
        M::Nop
        | M::Pause
        | M::Endbr32
        | M::Endbr64
        | M::Reservednop
        | M::Prefetch
        | M::Prefetchw
        | M::Prefetchwt1
        | M::Prefetchit0
        | M::Prefetchit1
        | M::Cldemote => (x::nop, false),
        _ if super::simd::handler(code).is_some() => {
            (super::simd::handler(code).expect("SIMD handler"), false)
        }
        M::Push => (x::push, false),
        M::Pop => (x::pop, false),
        M::Pusha | M::Pushad => (x::pusha, false),
        M::Popa | M::Popad => (x::popa, false),
        M::Pushf | M::Pushfd | M::Pushfq => (x::pushf, false),
        M::Popf | M::Popfd | M::Popfq => (x::popf, false),
        M::Enter => (x::enter, false),
        M::Leave => (x::leave, false),
        M::Jmp => match code {
            Code::Jmp_ptr1616
            | Code::Jmp_ptr1632
            | Code::Jmp_m1616
            | Code::Jmp_m1632
            | Code::Jmp_m1664 => (x::jmp_far as Handler, false),
            _ => (x::jmp as Handler, false),
        },
        M::Call => match code {
            Code::Call_ptr1616
            | Code::Call_ptr1632
            | Code::Call_m1616
            | Code::Call_m1632
            | Code::Call_m1664 => (x::call_far as Handler, false),
            _ => (x::call as Handler, false),
        },
        M::Jo
        | M::Jno
        | M::Jb
        | M::Jae
        | M::Je
        | M::Jne
        | M::Jbe
        | M::Ja
        | M::Js
        | M::Jns
        | M::Jp
        | M::Jnp
        | M::Jl
        | M::Jge
        | M::Jle
        | M::Jg => (x::jcc, false),
        M::Jcxz | M::Jecxz | M::Jrcxz => (x::jrcxz, false),
        M::Loop | M::Loope | M::Loopne => (x::loop_, false),
        M::Ret => (x::ret, false),
        M::Retf => (x::ret_far, false),
        M::Int => (x::int, false),
        M::Int3 => (x::int3, false),
        M::Into => (x::into, false),
        M::Int1 => (x::int1, false),
        M::Iret | M::Iretd | M::Iretq => (x::iret, false),
        M::Bound => (x::bound, false),
        M::Movsb
        | M::Movsw
        | M::Movsd
        | M::Movsq
        | M::Cmpsb
        | M::Cmpsw
        | M::Cmpsd
        | M::Cmpsq
        | M::Scasb
        | M::Scasw
        | M::Scasd
        | M::Scasq
        | M::Lodsb
        | M::Lodsw
        | M::Lodsd
        | M::Lodsq
        | M::Stosb
        | M::Stosw
        | M::Stosd
        | M::Stosq
        | M::Insb
        | M::Insw
        | M::Insd
        | M::Outsb
        | M::Outsw
        | M::Outsd => match code {
            // MOVSD/CMPSD also name SSE2 instructions.
            Code::Movsd_xmm_xmmm64 | Code::Movsd_xmmm64_xmm | Code::Cmpsd_xmm_xmmm64_imm8 => (
                super::simd::handler(code).unwrap_or(x::undefined as Handler),
                false,
            ),
            _ if code.op_code().encoding() != iced_x86::EncodingKind::Legacy => {
                (x::undefined as Handler, false)
            }
            _ => (x::string as Handler, false),
        },
        M::Hlt => (x::hlt, false),
        M::Clc | M::Stc | M::Cmc | M::Cld | M::Std => (x::flag_op, false),
        M::Cli | M::Sti => (x::interrupt_flag, false),
        M::In => (x::in_, false),
        M::Out => (x::out, false),
        M::Cpuid => (x::cpuid_insn, false),
        M::Rdtsc => (x::rdtsc, false),
        M::Rdtscp => (x::rdtscp, false),
        M::Swapgs => (x::swapgs, false),
        M::Wait => (x::wait, false),
        M::Ud0 | M::Ud1 | M::Ud2 => (x::ud, false),
        M::Lgdt | M::Lidt => (x::load_descriptor_table, false),
        M::Sgdt | M::Sidt => (x::store_descriptor_table, false),
        M::Smsw => (x::smsw, false),
        M::Lmsw => (x::lmsw, false),
        M::Clts => (x::clts, false),
        M::Invd | M::Wbinvd | M::Invlpg => (x::cache_control, false),
        M::Rdmsr => (x::rdmsr, false),
        M::Wrmsr => (x::wrmsr, false),
        M::Sldt | M::Str => (x::store_task_register, false),
        M::Lldt => (x::lldt, false),
        M::Ltr => (x::ltr, false),
        M::Lar | M::Lsl => (x::load_access, false),
        M::Verr | M::Verw => (x::verify, false),
        M::Arpl => (x::arpl, false),
        M::Sysenter => (x::sysenter, false),
        M::Sysexit | M::Sysexitq => (x::sysexit, false),
        M::Syscall => (x::syscall, false),
        M::Sysret | M::Sysretq => (x::sysret, false),
        _ if is_x87(code) => match super::x87::handler(code) {
            Some(h) => (h, false),
            None => (x::x87_escape as Handler, false),
        },
        M::Fxsave
        | M::Fxsave64
        | M::Fxrstor
        | M::Fxrstor64
        | M::Xsave
        | M::Xsave64
        | M::Xsaveopt
        | M::Xsaveopt64
        | M::Xrstor
        | M::Xrstor64
        | M::Xgetbv
        | M::Xsetbv => (
            super::x87::handler(code).expect("FXSAVE/XSAVE family"),
            false,
        ),
        _ => (x::undefined, false),
    };
    let implemented = handler as usize != x::undefined as Handler as usize;
    let ends_block = matches!(
        mnemonic,
        M::Hlt
            | M::Out
            | M::Outsb
            | M::Outsw
            | M::Outsd
            | M::Popf
            | M::Popfd
            | M::Popfq
            | M::Cli
            | M::Sti
            | M::Lmsw
    ) || matches!(handler as usize, h if h == x::mov_cr as Handler as usize || h == x::ud as Handler as usize);
    Entry {
        handler,
        ends_block,
        lockable,
        implemented,
    }
}

/// x87 opcodes: the D8-DF escape space and its FWAIT-prefixed forms.
/// iced gives register forms as two-byte opcodes (escape, ModR/M).
fn is_x87(code: Code) -> bool {
    let op = code.op_code();
    let first = if op.op_code() > 0xff {
        op.op_code() >> 8
    } else {
        op.op_code()
    };
    op.encoding() == iced_x86::EncodingKind::Legacy
        && op.table() == iced_x86::OpCodeTableKind::Normal
        && (0xd8..=0xdf).contains(&first)
}

/// The catalog entry for `code`.
#[inline]
pub fn entry(code: Code) -> &'static Entry {
    static TABLE: OnceLock<Vec<Entry>> = OnceLock::new();
    let table = TABLE.get_or_init(|| Code::values().map(entry_for).collect());
    &table[code as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_8086_arith_form_has_a_handler() {
        for code in [
            Code::Add_rm8_r8,
            Code::Adc_AX_imm16,
            Code::Sub_r32_rm32,
            Code::Cmp_rm16_imm8,
        ] {
            assert!(entry(code).implemented, "{code:?}");
        }
        assert!(!entry(Code::INVALID).implemented);
    }

    #[test]
    fn lock_is_allowed_only_on_read_modify_write_families() {
        assert!(entry(Code::Add_rm8_r8).lockable);
        assert!(!entry(Code::Mov_rm8_r8).lockable);
        assert!(!entry(Code::Cmp_rm8_r8).lockable);
    }
}
