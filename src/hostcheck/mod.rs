//! hostcheck: differential testing of xlat's interpreter against the host
//! CPU. For each user-mode instruction form that iced-x86 knows and xlat
//! implements, random operands (weighted toward edge values) run natively
//! and in a 64-bit xlat guest; every register, flag and memory byte must
//! agree. The compatibility-mode run does the same for 32-bit code: in a
//! 32-bit code segment of the host process and in 32-bit protected mode.
//! Both runs include the x87 forms, which also seed and compare the FPU
//! state (see `x87`); `--feature x87` selects them alone.

mod case;
pub use case::Rng;
mod forms;
mod guest;
#[cfg(target_arch = "x86_64")]
mod native;
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod native32;
mod x87;

pub use forms::{compat32_forms, integer_forms, simd_forms, x87_forms, Form};

/// Which code size(s) to check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// 64-bit mode: integer, MMX, SSE and SSE2 forms.
    Long,
    /// 32-bit code: integer forms (compatibility mode on the host).
    Compat32,
    /// Both, one after the other.
    All,
}

use std::io::Write;

/// What to run.
pub struct Options {
    /// Random cases run per form (cases the host cannot run, such as
    /// divide errors, are drawn again, up to four times this many draws).
    pub cases: u64,
    /// Only forms whose name contains this.
    pub filter: Option<String>,
    /// Only forms that need one of these CPUID features (iced-x86's
    /// `CpuidFeature` names, any case; `x87` for every x87 form); empty:
    /// all.
    pub features: Vec<String>,
    pub seed: u64,
    /// Print the first failing case of each form.
    pub verbose: bool,
    pub mode: Mode,
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
    /// Passed cases of the x87 transcendental forms whose results were
    /// one ulp from the host's (the only tolerance hostcheck applies).
    pub within_ulp: u64,
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
        let mut guest = guest::GuestRunner::new().map_err(|e| format!("guest runner: {e}"))?;
        let mut rng = case::Rng(opts.seed | 1);
        let mut total = Tally::default();
        let quirks = x87::HostQuirks::of_host();
        let _ = writeln!(
            out,
            "{:<40} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "form", "cases", "passed", "failed", "skipped", "1ulp"
        );
        if opts.mode != Mode::Compat32 {
            let mut native =
                native::NativeRunner::new().map_err(|e| format!("native runner: {e}"))?;
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
            let simd = simd_forms(host_has);
            let missing = simd_forms(|_| true).len() - simd.len();
            if missing > 0 {
                let _ = writeln!(
                    out,
                    "{missing} SIMD forms skipped: the host CPU lacks their features"
                );
            }
            let forms: Vec<Form> = integer_forms()
                .into_iter()
                .filter(|f| host_has(f.code))
                .chain(simd)
                .chain(x87_forms(true).into_iter().filter(|f| host_has(f.code)))
                .collect();
            let mut run = |c: &case::Case| Some(native.run(c));
            let mut sides = Sides {
                native: &mut run,
                guest: &mut guest,
                quirks,
            };
            check_forms(opts, out, &forms, 64, "", &mut rng, &mut sides, &mut total);
        }
        if opts.mode != Mode::Long {
            #[cfg(target_os = "linux")]
            {
                let mut native = native32::Native32Runner::new()
                    .map_err(|e| format!("compat32 native runner: {e}"))?;
                if !native.addr16 {
                    let _ = writeln!(out, "modify_ldt failed: 16-bit address-size cases skipped");
                }
                let addr16 = native.addr16;
                let mut run = |c: &case::Case| (addr16 || !c.addr16).then(|| native.run(c));
                let forms: Vec<Form> = compat32_forms()
                    .into_iter()
                    .chain(x87_forms(false))
                    .collect();
                let mut sides = Sides {
                    native: &mut run,
                    guest: &mut guest,
                    quirks,
                };
                check_forms(
                    opts,
                    out,
                    &forms,
                    32,
                    "compat32 ",
                    &mut rng,
                    &mut sides,
                    &mut total,
                );
            }
            #[cfg(not(target_os = "linux"))]
            return Err("the compat32 run needs Linux's 32-bit user code segment".into());
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
        if total.within_ulp > 0 {
            let _ = writeln!(
                out,
                "1ulp: {} passed cases of the x87 transcendentals (FSIN FCOS FSINCOS FPTAN \
                 FPATAN FYL2X FYL2XP1 F2XM1) had a result one ulp from the host's or another \
                 C1 (rounded up: relative to the unit's own inner value, which the SDM leaves \
                 to the implementation), every other bit of state equal; all other forms \
                 compare bit-exactly",
                total.within_ulp
            );
        }
        Ok(total)
    }
}

/// The two sides of a comparison: the host (`native`, which returns
/// `None` for a case it cannot run) and xlat, and what the host keeps of
/// the x87 pointers.
#[cfg(target_arch = "x86_64")]
struct Sides<'a> {
    native: &'a mut dyn FnMut(&case::Case) -> Option<case::Outcome>,
    guest: &'a mut guest::GuestRunner,
    quirks: x87::HostQuirks,
}

/// Runs `opts.cases` cases of each form in `forms` natively and in xlat,
/// printing one row per form (its name after `prefix`) and adding to
/// `total`.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::too_many_arguments)]
fn check_forms(
    opts: &Options,
    out: &mut dyn Write,
    forms: &[Form],
    bits: u32,
    prefix: &str,
    rng: &mut case::Rng,
    sides: &mut Sides,
    total: &mut Tally,
) {
    for form in forms {
        if opts
            .filter
            .as_deref()
            .is_some_and(|f| !form.name.contains(f))
        {
            continue;
        }
        let x87_wanted = form.x87 && opts.features.iter().any(|w| w.eq_ignore_ascii_case("x87"));
        if !opts.features.is_empty()
            && !x87_wanted
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
        // Cases the host cannot run (divide errors) do not count toward
        // `opts.cases`; the attempt cap bounds forms that mostly fault.
        while t.cases < opts.cases && attempts < opts.cases * 4 {
            attempts += 1;
            let Some(c) = case::generate_for(form, rng, bits) else {
                continue;
            };
            if c.would_fault_natively()
                || c.start
                    .x87
                    .as_ref()
                    .is_some_and(|x| x87::sdm_undefined(form.code.mnemonic(), x))
            {
                t.skipped += 1;
                continue;
            }
            let Some(host) = (sides.native)(&c) else {
                t.skipped += 1;
                continue;
            };
            t.cases += 1;
            let mine = sides.guest.run(&c);
            match case::compare(&c, &host, &mine, &sides.quirks) {
                Ok(x87::Match::Exact) => {}
                Ok(x87::Match::WithinUlp) => t.within_ulp += 1,
                Err(diff) => {
                    t.failed += 1;
                    first_failure.get_or_insert(diff);
                }
            }
        }
        if t.failed > 0 {
            t.forms_failed = 1;
        }
        let ulp = if form.x87 && x87::is_transcendental(form.code.mnemonic()) {
            t.within_ulp.to_string()
        } else {
            "-".into()
        };
        let _ = writeln!(
            out,
            "{:<40} {:>8} {:>8} {:>8} {:>8} {:>8}",
            format!("{prefix}{}", form.name),
            t.cases,
            t.cases - t.failed,
            t.failed,
            t.skipped,
            ulp
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
        total.within_ulp += t.within_ulp;
    }
}
