//! hostcheck: differential testing of xlat's interpreter against the host
//! CPU. For each user-mode instruction form that iced-x86 knows and xlat
//! implements, random operands (weighted toward edge values) run natively
//! and in a 64-bit xlat guest; every register, flag and memory byte must
//! agree.

mod case;
mod forms;
mod guest;
#[cfg(target_arch = "x86_64")]
mod native;

pub use forms::{integer_forms, simd_forms, Form};

use std::io::Write;

/// What to run.
pub struct Options {
    /// Random cases per form.
    pub cases: u64,
    /// Only forms whose name contains this.
    pub filter: Option<String>,
    /// Only forms that need one of these CPUID features (iced-x86's
    /// `CpuidFeature` names, any case); empty: all.
    pub features: Vec<String>,
    pub seed: u64,
    /// Print the first failing case of each form.
    pub verbose: bool,
}

/// Per-form results.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub forms: u64,
    pub forms_failed: u64,
    pub cases: u64,
    pub failed: u64,
    /// Cases not run because they would fault natively (e.g. #DE).
    pub skipped: u64,
}

/// Runs hostcheck and prints a table; returns the totals.
pub fn run(opts: &Options, out: &mut dyn Write) -> Result<Tally, String> {
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (opts, out);
        Err("hostcheck executes instructions natively: it needs an x86-64 host".into())
    }
    #[cfg(target_arch = "x86_64")]
    {
        let mut native = native::NativeRunner::new().map_err(|e| format!("native runner: {e}"))?;
        let mut guest = guest::GuestRunner::new().map_err(|e| format!("guest runner: {e}"))?;
        let mut rng = case::Rng(opts.seed | 1);
        let mut total = Tally::default();
        let _ = writeln!(
            out,
            "{:<40} {:>8} {:>8} {:>8} {:>8}",
            "form", "cases", "passed", "failed", "skipped"
        );
        let edx = native::host_cpuid1_edx();
        let ecx = native::host_cpuid1_ecx();
        let host_has = |code: iced_x86::Code| {
            use iced_x86::CpuidFeature as F;
            code.cpuid_features().iter().all(|f| {
                let (reg, bit) = match f {
                    F::MMX => (edx, 23),
                    F::SSE => (edx, 25),
                    F::SSE2 => (edx, 26),
                    F::CLFSH => (edx, 19),
                    F::SSE3 => (ecx, 0),
                    F::SSSE3 => (ecx, 9),
                    F::SSE4_1 => (ecx, 19),
                    F::SSE4_2 => (ecx, 20),
                    F::POPCNT => (ecx, 23),
                    _ => return true,
                };
                reg & (1 << bit) != 0
            })
        };
        let all: Vec<Form> = integer_forms()
            .into_iter()
            .filter(|f| host_has(f.code))
            .collect();
        let simd = simd_forms(host_has);
        let missing = simd_forms(|_| true).len() - simd.len();
        if missing > 0 {
            let _ = writeln!(
                out,
                "{missing} SIMD forms skipped: the host CPU lacks their features"
            );
        }
        for form in all.into_iter().chain(simd) {
            if opts
                .filter
                .as_deref()
                .is_some_and(|f| !form.name.contains(f))
            {
                continue;
            }
            if !opts.features.is_empty()
                && !form.code.cpuid_features().iter().any(|f| {
                    let name = format!("{f:?}");
                    opts.features.iter().any(|w| w.eq_ignore_ascii_case(&name))
                })
            {
                continue;
            }
            let mut t = Tally {
                forms: 1,
                ..Tally::default()
            };
            let mut first_failure = None;
            let mut attempts = 0;
            while t.cases + t.skipped < opts.cases && attempts < opts.cases * 4 {
                attempts += 1;
                let Some(c) = case::generate(&form, &mut rng) else {
                    continue;
                };
                if c.would_fault_natively() {
                    t.skipped += 1;
                    continue;
                }
                t.cases += 1;
                let host = native.run(&c);
                let mine = guest.run(&c);
                if let Some(diff) = case::compare(&c, &host, &mine) {
                    t.failed += 1;
                    first_failure.get_or_insert(diff);
                }
            }
            if t.failed > 0 {
                t.forms_failed = 1;
            }
            let _ = writeln!(
                out,
                "{:<40} {:>8} {:>8} {:>8} {:>8}",
                form.name,
                t.cases,
                t.cases - t.failed,
                t.failed,
                t.skipped
            );
            if opts.verbose {
                if let Some(d) = first_failure {
                    let _ = writeln!(out, "    first failure: {d}");
                }
            }
            total.forms += t.forms;
            total.forms_failed += t.forms_failed;
            total.cases += t.cases;
            total.failed += t.failed;
            total.skipped += t.skipped;
        }
        let _ = writeln!(
            out,
            "{} forms ({} failing): {} passed, {} failed, {} skipped",
            total.forms,
            total.forms_failed,
            total.cases - total.failed,
            total.failed,
            total.skipped
        );
        Ok(total)
    }
}
