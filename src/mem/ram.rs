//! The guest's RAM: one anonymous mapping, so that loaders, devices and
//! (later) JIT code see the same bytes.

use memmap2::MmapMut;

pub struct Ram {
    map: MmapMut,
}

impl Ram {
    pub fn new(size: u64) -> std::io::Result<Self> {
        let len = usize::try_from(size.max(4096))
            .map_err(|_| std::io::Error::other("RAM size does not fit the host"))?;
        Ok(Ram {
            map: MmapMut::map_anon(len)?,
        })
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.map
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.map
    }
}
