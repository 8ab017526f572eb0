//! Deep dreaming, style transfer and reinforcement-learning-guided path tracing.
//!
//! Status: this crate is a placeholder in the workspace; nothing is implemented yet. See README.md for what
//! it will hold and which issue builds it.
