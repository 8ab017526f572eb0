//! Getting at the f32 data of candle's CPU storage inside custom ops.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, Layout};

/// The contiguous f32 data that `layout` describes in `storage`.
pub fn f32_slice<'a>(
    what: &str,
    storage: &'a CpuStorage,
    layout: &Layout,
) -> candle_core::Result<&'a [f32]> {
    let data = match storage {
        CpuStorage::F32(v) => v.as_slice(),
        other => candle_core::bail!(
            "{what}: the fast CPU kernels take f32, got {:?}",
            other.dtype()
        ),
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!(
            "{what}: the fast CPU kernels need a contiguous tensor (call .contiguous())"
        ),
    }
}
