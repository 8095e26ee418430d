//! ROUNDPS/ROUNDPD/ROUNDSS/ROUNDSD: round to an integral value in the
//! same format. imm8[1:0] is the rounding mode (nearest, down, up,
//! truncate) unless imm8[2] selects MXCSR.RC; imm8[3] suppresses the
//! precision exception (SDM vol. 2, ROUNDPS, Table 4-18).

use super::float::shape;
use super::ieee::{self, Rounding};
use super::mxcsr::{commit, env};
use super::{begin, lane, read, set_xmm, with_lane, xmm, xmm_index, R};
use crate::cpu::exec::Exec;
use iced_x86::Instruction;

/// The rounding mode an imm8 selects; `mxcsr_rc` is MXCSR's.
pub(crate) fn mode(imm: u64, mxcsr_rc: Rounding) -> Rounding {
    if imm & 4 != 0 {
        return mxcsr_rc;
    }
    match imm & 3 {
        0 => Rounding::Nearest,
        1 => Rounding::Down,
        2 => Rounding::Up,
        _ => Rounding::Zero,
    }
}

pub fn round(ex: &mut Exec, insn: &Instruction) -> R {
    begin(ex, insn, true)?;
    let (f, scalar) = shape(insn);
    let w = (f.bits() / 8) as usize;
    let d = xmm_index(insn.op_register(0));
    let b = read(ex, insn, 1, if scalar { w as u32 } else { 16 })?;
    let imm = insn.immediate(2);
    let mut e = env(ex);
    let rc = mode(imm, e.c.rc);
    let quiet = imm & 8 != 0;
    // The scalar forms keep the destination's upper elements; the packed
    // ones replace every element.
    let (mut r, n) = if scalar { (xmm(ex, d), 1) } else { (b, 16 / w) };
    for i in 0..n {
        r = with_lane(
            r,
            i,
            w,
            ieee::round_integral(&mut e, f, lane(b, i, w), rc, quiet),
        );
    }
    commit(ex, &e)?;
    set_xmm(ex, d, r);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::ieee::{Env, F32, F64};
    use super::*;

    fn round32(x: f32, imm: u64) -> (f32, u16) {
        let mut e = Env::new(0x1f80);
        let rc = mode(imm, e.c.rc);
        let r = ieee::round_integral(&mut e, F32, x.to_bits() as u64, rc, imm & 8 != 0);
        (f32::from_bits(r as u32), e.flags())
    }

    #[test]
    fn each_mode() {
        let pe = 1 << 5;
        assert_eq!(round32(2.5, 0), (2.0, pe));
        assert_eq!(round32(3.5, 0), (4.0, pe));
        assert_eq!(round32(-2.5, 1), (-3.0, pe));
        assert_eq!(round32(2.1, 2), (3.0, pe));
        assert_eq!(round32(-2.9, 3), (-2.0, pe));
        assert_eq!(round32(-2.9, 3 | 8), (-2.0, 0), "PE suppressed");
        assert_eq!(round32(7.0, 0), (7.0, 0), "exact: no PE");
        // MXCSR.RC (nearest here) when imm8[2] is set.
        assert_eq!(round32(1.5, 4 | 3), (2.0, pe));
    }

    #[test]
    fn zero_results_keep_the_sign_and_nans_quieten() {
        let (r, _) = round32(-0.3, 0);
        assert!(r == 0.0 && r.is_sign_negative());
        let (r, _) = round32(0.7, 1);
        assert!(r == 0.0 && r.is_sign_positive());
        let mut e = Env::new(0x1f80);
        let snan = 0x7ff0_0000_0000_0001;
        let r = ieee::round_integral(&mut e, F64, snan, Rounding::Nearest, true);
        assert_eq!(r, 0x7ff8_0000_0000_0001);
        assert_eq!(e.flags(), 1, "IE even with imm8[3]");
        let big = 2f64.powi(60).to_bits();
        assert_eq!(
            ieee::round_integral(&mut e, F64, big, Rounding::Up, false),
            big
        );
    }
}
