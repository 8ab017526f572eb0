//! Fast CPU kernels on plain f32 slices: matrix products, convolution, pooling, the fused LSTM step.
//! [`crate::ops`] wraps them as candle operations.
//!
//! All kernels use rayon's pool (`RAYON_NUM_THREADS`), the same setting as candle, and partition any
//! reduction in a fixed way, so results do not change from run to run.

pub mod activation;
pub mod aligned;
pub mod allocator;
pub mod batch_norm;
pub mod bias;
pub mod conv2d;
pub mod conv_pool;
pub mod cpu;
pub mod cross_entropy;
pub mod dropout;
pub mod gemm;
pub mod gram;
pub mod lstm;
pub mod parallel;
pub mod pinning;
pub mod pool;
pub mod process;
#[cfg(target_arch = "x86_64")]
pub mod sgemm_avx2;
pub mod storage;
pub(crate) mod team;
pub mod upsample;
pub mod winograd;
