//! Which RAM pages hold decoded guest code, and which of those were written
//! since the CPU last looked: the basis of self-modifying-code support.

pub struct CodePages {
    /// One flag per 4 KiB page of RAM.
    has_code: Vec<bool>,
    /// Pages with code that were written; drained by the decode cache.
    written: Vec<u64>,
    /// How many times a page became a code page (host TLBs drop their
    /// write entries when this moves).
    marks: u64,
}

impl CodePages {
    pub fn new(pages: usize) -> Self {
        CodePages {
            has_code: vec![false; pages],
            written: Vec::new(),
            marks: 0,
        }
    }

    /// Marks the page of `addr` as holding decoded code.
    pub fn mark(&mut self, addr: u64) {
        if let Some(flag) = self.has_code.get_mut((addr >> 12) as usize) {
            self.marks += !*flag as u64;
            *flag = true;
        }
    }

    pub fn marks(&self) -> u64 {
        self.marks
    }

    /// True when the page of `addr` holds decoded code.
    pub fn has_code(&self, addr: u64) -> bool {
        self.has_code
            .get((addr >> 12) as usize)
            .copied()
            .unwrap_or(false)
    }

    #[inline]
    pub fn note_write(&mut self, addr: u64) {
        let page = (addr >> 12) as usize;
        if let Some(flag) = self.has_code.get_mut(page) {
            if *flag {
                *flag = false;
                self.written.push(page as u64);
            }
        }
    }

    /// True when some code page was written since the last `take_written`.
    #[inline]
    pub fn any_written(&self) -> bool {
        !self.written.is_empty()
    }

    pub fn take_written(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.written)
    }

    /// Forgets all code pages (after the decode cache is flushed).
    pub fn clear(&mut self) {
        self.has_code.iter_mut().for_each(|f| *f = false);
        self.written.clear();
    }
}
