//! The soft TLB: recent linear-page to physical-page translations with the
//! permissions the walk found.

#[derive(Default)]
pub struct Tlb {}

impl Tlb {
    /// Drops every translation (CR3 load, CR0.PG/CR4 paging-bit changes).
    pub fn flush_all(&mut self) {}

    /// Drops translations of non-global pages (CR3 load with PGE on).
    pub fn flush_non_global(&mut self) {}

    /// Drops the translation of one linear page (INVLPG).
    pub fn flush_page(&mut self, _linear: u64) {}
}
