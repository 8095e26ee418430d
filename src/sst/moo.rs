//! Reader for the MOO format of SingleStepTests (see
//! ../shared/conformance/README.md): gzip-compressed chunks of tests, each
//! with its bytes, initial and final CPU state, and the exception raised.

use std::io::Read;

/// Register order of the REGS bitmask.
pub const REG_NAMES: [&str; 14] = [
    "ax", "bx", "cx", "dx", "cs", "ss", "ds", "es", "sp", "bp", "si", "di", "ip", "flags",
];

#[derive(Clone, Debug, Default)]
pub struct MooState {
    /// Registers present in the chunk, indexed as REG_NAMES.
    pub regs: [Option<u16>; 14],
    pub ram: Vec<(u32, u8)>,
}

#[derive(Clone, Debug, Default)]
pub struct MooTest {
    pub index: u32,
    pub name: String,
    pub bytes: Vec<u8>,
    pub init: MooState,
    pub fina: MooState,
    pub exception: Option<u8>,
    pub hash: [u8; 20],
}

impl MooTest {
    pub fn hash_hex(&self) -> String {
        self.hash.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[derive(Debug)]
pub struct MooError(pub String);

impl std::fmt::Display for MooError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A cursor over little-endian chunked data that never reads out of bounds.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MooError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.ok_or_else(|| MooError(format!("truncated at byte {}", self.pos)))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, MooError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, MooError> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().unwrap_or_default(),
        ))
    }

    fn u32(&mut self) -> Result<u32, MooError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().unwrap_or_default(),
        ))
    }

    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// Next chunk: (tag, payload).
    fn chunk(&mut self) -> Result<([u8; 4], &'a [u8]), MooError> {
        let tag: [u8; 4] = self.take(4)?.try_into().unwrap_or_default();
        let len = self.u32()? as usize;
        Ok((tag, self.take(len)?))
    }
}

/// Decompresses (when gzip) and parses a MOO file.
pub fn parse(raw: &[u8]) -> Result<Vec<MooTest>, MooError> {
    let data;
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw)
            .read_to_end(&mut out)
            .map_err(|e| MooError(format!("gzip: {e}")))?;
        data = out;
        &data[..]
    } else {
        raw
    };
    let mut c = Cursor {
        data: bytes,
        pos: 0,
    };
    let (magic, _header) = c.chunk()?;
    if &magic != b"MOO " {
        return Err(MooError("not a MOO file (no 'MOO ' header)".into()));
    }
    let mut tests = Vec::new();
    while !c.done() {
        let (tag, payload) = c.chunk()?;
        if &tag == b"TEST" {
            tests.push(parse_test(payload)?);
        }
    }
    Ok(tests)
}

fn parse_test(payload: &[u8]) -> Result<MooTest, MooError> {
    let mut c = Cursor {
        data: payload,
        pos: 0,
    };
    let mut t = MooTest {
        index: c.u32()?,
        ..MooTest::default()
    };
    while !c.done() {
        let (tag, p) = c.chunk()?;
        let mut pc = Cursor { data: p, pos: 0 };
        match &tag {
            b"NAME" => {
                let n = pc.u32()? as usize;
                t.name = String::from_utf8_lossy(pc.take(n)?).into_owned();
            }
            b"BYTS" => {
                let n = pc.u32()? as usize;
                t.bytes = pc.take(n)?.to_vec();
            }
            b"INIT" => t.init = parse_state(p)?,
            b"FINA" => t.fina = parse_state(p)?,
            b"EXCP" => t.exception = Some(pc.u8()?),
            b"HASH" => t.hash = pc.take(20)?.try_into().unwrap_or_default(),
            _ => {}
        }
    }
    Ok(t)
}

fn parse_state(payload: &[u8]) -> Result<MooState, MooError> {
    let mut c = Cursor {
        data: payload,
        pos: 0,
    };
    let mut s = MooState::default();
    while !c.done() {
        let (tag, p) = c.chunk()?;
        let mut pc = Cursor { data: p, pos: 0 };
        match &tag {
            b"REGS" => {
                let mask = pc.u16()?;
                for (i, slot) in s.regs.iter_mut().enumerate() {
                    if mask & (1 << i) != 0 {
                        *slot = Some(pc.u16()?);
                    }
                }
            }
            b"RAM " => {
                let n = pc.u32()?;
                for _ in 0..n {
                    let addr = pc.u32()?;
                    s.ram.push((addr, pc.u8()?));
                }
            }
            _ => {}
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse(b"").is_err());
        assert!(parse(b"MOO \xff\xff\xff\xff").is_err());
        assert!(parse(b"NOPE\0\0\0\0").is_err());
        assert!(parse(&[0x1f, 0x8b, 0, 0]).is_err());
    }
}
