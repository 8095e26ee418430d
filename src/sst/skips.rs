//! The written list of conformance tests xlat skips, one reason per entry
//! (conformance/sst-80286-skips.txt), and the suite's own revocations.

use super::moo::MooTest;
use iced_x86::{Decoder, DecoderOptions, Instruction, OpKind, Register};
use std::collections::HashSet;
use std::path::Path;

/// Entries are `KEY reason...`; KEY is a file stem ("D8", "0F01.4") that
/// skips a whole file, a test's SHA-1 hash, or `rule:NAME` for a class of
/// tests that `rule_applies` recognises from the instruction bytes.
pub struct SkipList {
    entries: Vec<(String, String)>,
}

const BUILTIN: &str = include_str!("../../conformance/sst-80286-skips.txt");

/// The rules a skip list may name.
const RULES: [&str; 4] = [
    "rule:string-word-wrap",
    "rule:no-fs-gs",
    "rule:ss-overrun-vector",
    "rule:longer-than-10",
];

fn decode16(bytes: &[u8]) -> Instruction {
    Decoder::new(16, bytes, DecoderOptions::NO_INVALID_CHECK).decode()
}

fn reg(t: &MooTest, i: usize) -> u16 {
    t.init.regs[i].unwrap_or(0)
}

/// Whether the rule `name` covers test `t`.
fn rule_applies(name: &str, t: &MooTest) -> bool {
    let insn = decode16(&t.bytes);
    match name {
        "rule:string-word-wrap" => string_word_wraps(&insn, t),
        "rule:no-fs-gs" => (0..insn.op_count()).any(|n| {
            insn.op_kind(n) == OpKind::Register
                && matches!(insn.op_register(n), Register::FS | Register::GS)
        }),
        "rule:ss-overrun-vector" => t.exception == Some(13) && uses_stack_segment(&insn),
        "rule:longer-than-10" => insn.len() > 10,
        _ => false,
    }
}

/// A word string instruction whose SI or DI reaches offset FFFF in some
/// iteration: the 286 wraps the word around the segment, the 386 and
/// later raise #GP(0)/#SS(0).
fn string_word_wraps(insn: &Instruction, t: &MooTest) -> bool {
    if !insn.is_string_instruction() || insn.memory_size().size() != 2 {
        return false;
    }
    let count = if insn.has_rep_prefix() || insn.has_repne_prefix() {
        reg(t, 2) as u32
    } else {
        1
    };
    let step: u16 = if reg(t, 13) & 0x400 != 0 { 0xfffe } else { 2 };
    let (mut si, mut di) = (reg(t, 10), reg(t, 11));
    for _ in 0..count {
        if si == 0xffff || di == 0xffff {
            return true;
        }
        si = si.wrapping_add(step);
        di = di.wrapping_add(step);
    }
    false
}

/// Stack-segment accesses: SS-based memory operands and the implicit
/// stack of PUSH/POP/CALL/RET/LEAVE/ENTER/INT/IRET.
fn uses_stack_segment(insn: &Instruction) -> bool {
    let mem = (0..insn.op_count()).any(|n| insn.op_kind(n) == OpKind::Memory)
        && insn.memory_segment() == Register::SS;
    mem || insn.stack_pointer_increment() != 0 || insn.mnemonic() == iced_x86::Mnemonic::Leave
}

impl SkipList {
    pub fn parse(text: &str) -> Self {
        let entries = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once(char::is_whitespace))
            .map(|(k, r)| (k.to_string(), r.trim().to_string()))
            .collect();
        SkipList { entries }
    }

    pub fn builtin() -> Self {
        Self::parse(BUILTIN)
    }

    pub fn reason(&self, stem: &str, t: &MooTest) -> Option<&str> {
        let hash = t.hash_hex();
        self.entries
            .iter()
            .find(|(k, _)| k == stem || k.eq_ignore_ascii_case(&hash) || rule_applies(k, t))
            .map(|(_, r)| r.as_str())
    }

    /// Rule names in the list that no code implements.
    pub fn unknown_rules(&self) -> Vec<&str> {
        self.entries
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| k.starts_with("rule:") && !RULES.contains(k))
            .collect()
    }
}

/// Hashes in the suite's revocation_list.txt (missing file: none).
pub fn load_revocations(dir: &Path) -> HashSet<String> {
    std::fs::read_to_string(dir.join("revocation_list.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_ascii_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_entry_has_a_reason() {
        for line in BUILTIN.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (_, reason) = line
                .split_once(char::is_whitespace)
                .expect("key and reason");
            assert!(reason.trim().len() > 10, "reason too short: {line}");
        }
    }

    fn test_with(bytes: &[u8], regs: &[(usize, u16)]) -> MooTest {
        let mut t = MooTest {
            bytes: bytes.to_vec(),
            ..MooTest::default()
        };
        for &(i, v) in regs {
            t.init.regs[i] = Some(v);
        }
        t
    }

    #[test]
    fn keys_match_stems() {
        let l = SkipList::parse("D8 no coprocessor in the recording\n");
        let t = test_with(&[0x90], &[]);
        assert!(l.reason("D8", &t).is_some());
        assert!(l.reason("D9", &t).is_none());
    }

    #[test]
    fn builtin_rules_are_all_implemented() {
        assert!(SkipList::builtin().unknown_rules().is_empty());
    }

    #[test]
    fn string_wrap_rule_needs_a_word_access_at_ffff() {
        let l = SkipList::parse("rule:string-word-wrap 286 wraps");
        // movsw with SI = FFFF.
        assert!(l
            .reason("A5", &test_with(&[0xa5], &[(10, 0xffff)]))
            .is_some());
        // movsb with SI = FFFF is fine on every CPU.
        assert!(l
            .reason("A4", &test_with(&[0xa4], &[(10, 0xffff)]))
            .is_none());
        // rep movsw that reaches FFFF on its third iteration.
        assert!(l
            .reason("A5", &test_with(&[0xf3, 0xa5], &[(2, 5), (10, 0xfffb)]))
            .is_some());
    }

    #[test]
    fn fs_gs_rule_matches_segment_moves() {
        let l = SkipList::parse("rule:no-fs-gs the 286 has no FS/GS");
        assert!(l.reason("8E", &test_with(&[0x8e, 0xe0], &[])).is_some());
        assert!(l.reason("8E", &test_with(&[0x8e, 0xd8], &[])).is_none());
    }
}
