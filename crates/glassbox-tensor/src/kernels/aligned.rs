//! Buffers whose first element sits on a 64-byte boundary, so that packed panels start on a cache line and
//! no full-width vector load of them straddles two.

/// A zeroed `f32` buffer, 64-byte aligned.
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

    /// The aligned floats.
    pub fn as_slice(&self) -> &[f32] {
        &self.buf[self.offset..self.offset + self.len]
    }

    /// The aligned floats, to write.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.buf[self.offset..self.offset + self.len]
    }
}
