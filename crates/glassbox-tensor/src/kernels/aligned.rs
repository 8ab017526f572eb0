//! Buffers whose first element sits on a 64-byte boundary, so that packed panels start on a cache line and
//! no full-width vector load of them straddles two.

/// An `f32` buffer, 64-byte aligned: zeroed ([`AlignedBuf::new`]) or written in full by its maker
/// ([`AlignedBuf::written`]).
pub struct AlignedBuf {
    buf: Vec<f32>,
    offset: usize,
    len: usize,
}

impl AlignedBuf {
    /// `len` zeros, the first at a 64-byte boundary.
    pub fn new(len: usize) -> Self {
        let buf = vec![0.0f32; len + 16];
        let offset = buf.as_ptr().align_offset(64).min(16);
        AlignedBuf { buf, offset, len }
    }

    /// `len` floats, the first at a 64-byte boundary when the allocator allows it, set by `write` through
    /// the pointer to the first: a large result written once costs no zeroing pass before.
    ///
    /// # Safety
    /// `write` writes every one of the `len` floats from the pointer it gets, and nothing past them.
    pub unsafe fn written(len: usize, write: impl FnOnce(*mut f32)) -> Self {
        let mut buf: Vec<f32> = Vec::with_capacity(len + 16);
        let offset = buf.as_ptr().align_offset(64).min(16);
        let start = buf.as_mut_ptr();
        // SAFETY: the capacity holds `len + 16` floats; the floats around the written ones are zeroed
        // here, the rest written by `write` (the caller's promise), so all `len + 16` are set.
        unsafe {
            std::ptr::write_bytes(start, 0, offset);
            write(start.add(offset));
            std::ptr::write_bytes(start.add(offset + len), 0, 16 - offset);
            buf.set_len(len + 16);
        }
        AlignedBuf { buf, offset, len }
    }

    /// The aligned floats.
    pub fn as_slice(&self) -> &[f32] {
        &self.buf[self.offset..self.offset + self.len]
    }

    /// The aligned floats, to write.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.buf[self.offset..self.offset + self.len]
    }
}

impl Default for AlignedBuf {
    /// No floats.
    fn default() -> Self {
        AlignedBuf::new(0)
    }
}

impl std::ops::Deref for AlignedBuf {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        self.as_slice()
    }
}

impl PartialEq for AlignedBuf {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AlignedBuf({} floats)", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_buffers_are_aligned_and_hold_what_was_written() {
        for len in [0, 1, 15, 16, 1000] {
            // SAFETY: the closure writes all `len` floats.
            let b = unsafe {
                AlignedBuf::written(len, |p| {
                    for i in 0..len {
                        p.add(i).write(i as f32 * 0.5);
                    }
                })
            };
            assert_eq!(b.as_ptr() as usize % 64, 0, "len {len}");
            let want: Vec<f32> = (0..len).map(|i| i as f32 * 0.5).collect();
            assert_eq!(&b[..], &want[..], "len {len}");
        }
    }
}
