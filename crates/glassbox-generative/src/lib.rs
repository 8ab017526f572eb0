//! Autoencoders, variational autoencoders and a GAN.
//!
//! Status: this crate is a placeholder in the workspace; nothing is implemented yet. See README.md for what
//! it will hold and which issue builds it.
