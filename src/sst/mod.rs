//! The SingleStepTests conformance runner (`xlat sst`): runs each test's
//! instruction from its initial state on a fresh 16 MiB real-mode machine
//! and compares registers, flags (minus the bits the hardware leaves
//! undefined) and memory with the recorded final state.

pub mod moo;
mod run;
mod skips;

pub use run::{run_test, Mismatch};
pub use skips::SkipList;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub passed: u64,
    pub failed: u64,
    pub skipped: u64,
    /// Skipped counts by reason.
    pub skip_reasons: BTreeMap<String, u64>,
}

/// Per-opcode undefined-flag masks from the suite's metadata.json.
pub struct FlagMasks(serde_json::Value);

impl FlagMasks {
    pub fn load(dir: &Path) -> Result<Self, String> {
        let path = dir.join("metadata.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let v = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(FlagMasks(v))
    }

    /// The mask for a file stem such as "D2.4" or "00" (all ones if absent).
    pub fn mask(&self, stem: &str) -> u16 {
        let mut parts = stem.split('.');
        let op = parts.next().unwrap_or("");
        let mut node = &self.0["opcodes"][op];
        if let Some(reg) = parts.next() {
            node = &node["reg"][reg];
        }
        node["flags-mask"].as_u64().unwrap_or(0xffff) as u16
    }
}

/// Expands folders into their MOO files, sorted.
fn collect(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let rd = std::fs::read_dir(p)
                .map_err(|e| format!("cannot read folder {}: {e}", p.display()))?;
            let mut found: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.contains(".MOO"))
                })
                .collect();
            found.sort();
            files.extend(found);
        } else if p.is_file() {
            files.push(p.clone());
        } else {
            return Err(format!("no such file or folder: {}", p.display()));
        }
    }
    if files.is_empty() {
        return Err("no MOO files found".into());
    }
    Ok(files)
}

/// "D2.4" from ".../D2.4.MOO.gz".
fn stem_of(file: &Path) -> String {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.split(".MOO").next().unwrap_or(name).to_string()
}

/// Runs every test in `paths`, printing per-file failures and a closing
/// `N passed, N failed, N skipped` line.
/// What to run and how loudly.
#[derive(Default)]
pub struct Options {
    /// Print the first difference of each failing test.
    pub verbose: bool,
    /// Run only the test with this index in each file.
    pub index: Option<u32>,
    /// Trace each executed instruction to stderr.
    pub trace: bool,
}

pub fn run_paths(
    paths: &[PathBuf],
    opts: &Options,
    out: &mut dyn Write,
) -> Result<Summary, String> {
    let verbose = opts.verbose;
    let files = collect(paths)?;
    let skips = SkipList::builtin();
    let mut summary = Summary::default();
    let mut masks_cache: BTreeMap<PathBuf, FlagMasks> = BTreeMap::new();
    for file in &files {
        let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
        if !masks_cache.contains_key(&dir) {
            masks_cache.insert(dir.clone(), FlagMasks::load(&dir)?);
        }
        let masks = &masks_cache[&dir];
        let revoked = skips::load_revocations(&dir);
        let stem = stem_of(file);
        let raw =
            std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let tests = moo::parse(&raw).map_err(|e| format!("{}: {e}", file.display()))?;
        let mask = masks.mask(&stem);
        let mut failed_here = 0;
        for t in tests
            .iter()
            .filter(|t| opts.index.is_none_or(|i| i == t.index))
        {
            let hash = t.hash_hex();
            let reason = if revoked.contains(&hash) {
                Some("revoked by the suite (revocation_list.txt)")
            } else {
                skips.reason(&stem, t)
            };
            if let Some(r) = reason {
                summary.skipped += 1;
                *summary.skip_reasons.entry(r.to_string()).or_default() += 1;
                continue;
            }
            let mut tracer = opts
                .trace
                .then(|| crate::trace::text::TextTracer::new(std::io::stderr()));
            let result = match tracer {
                Some(ref mut t2) => run_test(t, mask, Some(t2)),
                None => run_test(t, mask, None),
            };
            match result {
                Ok(()) => summary.passed += 1,
                Err(m) => {
                    summary.failed += 1;
                    failed_here += 1;
                    if verbose {
                        let _ = writeln!(out, "  {stem} #{} {} [{}]: {m}", t.index, t.name, hash);
                    }
                }
            }
        }
        if failed_here > 0 {
            let _ = writeln!(out, "{stem}: {failed_here} of {} failed", tests.len());
        }
    }
    for (reason, n) in &summary.skip_reasons {
        let _ = writeln!(out, "skipped {n}: {reason}");
    }
    let _ = writeln!(
        out,
        "{} passed, {} failed, {} skipped",
        summary.passed, summary.failed, summary.skipped
    );
    Ok(summary)
}
