//! CRC32 (SSE4.2): accumulates the CRC-32C (Castagnoli, reflected
//! polynomial 0x82F63B78) of an 8/16/32/64-bit source into the low 32
//! bits of the destination, with no pre- or post-inversion; the result
//! is zero-extended into a 64-bit destination. Flags are unaffected
//! (SDM vol. 2, CRC32).

use super::Exec;
use crate::cpu::fault::Fault;
use iced_x86::Instruction;

/// The reflected Castagnoli polynomial.
const POLY: u32 = 0x82f6_3b78;

/// `crc` updated with the low `bytes` bytes of `data`, least significant
/// byte first.
pub(crate) fn crc32c(mut crc: u32, data: u64, bytes: u32) -> u32 {
    for i in 0..bytes {
        crc ^= (data >> (8 * i)) as u8 as u32;
        for _ in 0..8 {
            crc = (crc >> 1) ^ (POLY & (crc & 1).wrapping_neg());
        }
    }
    crc
}

pub fn crc32(ex: &mut Exec, insn: &Instruction) -> Result<(), Fault> {
    let bytes = ex.op_size(insn, 1);
    let data = ex.read_op(insn, 1)?;
    let crc = ex.read_op(insn, 0)? as u32;
    ex.write_op(insn, 0, crc32c(crc, data, bytes) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn castagnoli_check_value() {
        // The CRC-32C check value of "123456789" (with the conventional
        // pre- and post-inversion done by the caller) is 0xE3069283.
        let crc = b"123456789"
            .iter()
            .fold(!0u32, |c, &b| crc32c(c, b as u64, 1));
        assert_eq!(!crc, 0xe306_9283);
        // Wider operands are their bytes in little-endian order.
        let word = u32::from_le_bytes(*b"1234") as u64;
        let bytewise = b"1234".iter().fold(7u32, |c, &b| crc32c(c, b as u64, 1));
        assert_eq!(crc32c(7, word, 4), bytewise);
    }
}
