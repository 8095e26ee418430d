//! A guest profile: how many instructions retired in each decoded block,
//! keyed by the block's linear start address, and a report that folds the
//! blocks into the guest's own symbols (a System.map or /proc/kallsyms).
//!
//! Counting per block costs one map update per block, so a profiled boot
//! runs at close to full speed; the price is that a block's instructions
//! all land on its first address.

use std::collections::HashMap;
use std::io::{self, Write};

#[derive(Default)]
pub struct GuestProfile {
    blocks: HashMap<u64, u64>,
    total: u64,
}

impl GuestProfile {
    /// Adds `retired` instructions to the block starting at `linear`.
    #[inline]
    pub fn record(&mut self, linear: u64, retired: u64) {
        if retired != 0 {
            *self.blocks.entry(linear).or_insert(0) += retired;
            self.total += retired;
        }
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// The `limit` hottest rows: per symbol when `symbols` is given (and
    /// per block below them), per block otherwise.
    pub fn write_report(
        &self,
        out: &mut dyn Write,
        symbols: Option<&Symbols>,
        limit: usize,
    ) -> io::Result<()> {
        let total = self.total.max(1) as f64;
        writeln!(out, "# {} instructions profiled", self.total)?;
        let mut rows: Vec<(u64, String)> = match symbols {
            Some(symbols) => {
                let mut per_symbol: HashMap<String, u64> = HashMap::new();
                for (&addr, &n) in &self.blocks {
                    *per_symbol.entry(symbols.describe(addr)).or_insert(0) += n;
                }
                per_symbol.into_iter().map(|(name, n)| (n, name)).collect()
            }
            None => self
                .blocks
                .iter()
                .map(|(&addr, &n)| (n, format!("{addr:#x}")))
                .collect(),
        };
        rows.sort_unstable_by(|a, b| b.cmp(a));
        writeln!(out, "# instructions  percent  where")?;
        for (n, name) in rows.iter().take(limit) {
            writeln!(out, "{n:>15} {:>7.2}%  {name}", *n as f64 * 100.0 / total)?;
        }
        Ok(())
    }
}

/// Symbols sorted by address, from `nm`-style lines ("ADDR TYPE NAME"),
/// the format of System.map and /proc/kallsyms.
pub struct Symbols {
    sorted: Vec<(u64, String)>,
}

impl Symbols {
    pub fn parse(text: &str) -> Result<Symbols, String> {
        let mut sorted = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let mut fields = line.split_whitespace();
            let (Some(addr), Some(kind), Some(name)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let addr = u64::from_str_radix(addr, 16)
                .map_err(|_| format!("line {}: {addr:?} is not a hex address", number + 1))?;
            // Only code: absolute and data symbols would split functions.
            if matches!(kind, "T" | "t" | "W" | "w") {
                sorted.push((addr, name.to_string()));
            }
        }
        if sorted.is_empty() {
            return Err("no code symbols (lines of ADDR T NAME)".into());
        }
        sorted.sort_unstable();
        Ok(Symbols { sorted })
    }

    /// The symbol `addr` falls in, or its address in hex below the first.
    pub fn describe(&self, addr: u64) -> String {
        match self.sorted.partition_point(|(a, _)| *a <= addr) {
            0 => format!("{addr:#x}"),
            i => self.sorted[i - 1].1.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_fold_into_their_symbols() {
        let symbols = Symbols::parse(
            "ffffffff81000000 T _stext\n\
             ffffffff81000100 t helper\n\
             ffffffff81000000 A absolute_ignored\n\
             ffffffff81000200 D data_ignored\n",
        )
        .unwrap();
        let mut profile = GuestProfile::default();
        profile.record(0xffff_ffff_8100_0010, 5);
        profile.record(0xffff_ffff_8100_0150, 30);
        profile.record(0xffff_ffff_8100_0250, 10);
        profile.record(0x1000, 1);
        profile.record(0x2000, 0);
        assert_eq!(profile.total(), 46);
        let mut out = Vec::new();
        profile.write_report(&mut out, Some(&symbols), 10).unwrap();
        let text = String::from_utf8(out).unwrap();
        let rows: Vec<&str> = text.lines().skip(2).collect();
        assert_eq!(rows.len(), 3, "{text}");
        assert!(rows[0].ends_with("helper") && rows[0].trim_start().starts_with("40 "));
        assert!(rows[1].ends_with("_stext") && rows[1].trim_start().starts_with("5 "));
        assert!(rows[2].ends_with("0x1000"));
    }

    #[test]
    fn bad_symbol_files_are_refused() {
        assert!(Symbols::parse("zz T name\n").is_err());
        assert!(Symbols::parse("1000 D only_data\n").is_err());
    }
}
