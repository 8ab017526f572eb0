//! The lesson's scenes, in code: Mitsuba's Cornell box, light through a door, boxes under sun and sky, and
//! the white furnace the tests use.

mod cornell;
mod door;
mod furnace;
mod outdoor;

pub use cornell::cornell_box;
pub use door::door;
pub use furnace::{enclosed_furnace, sphere, sphere_under_uniform_sky};
pub use outdoor::outdoor;

use super::scene::Scene;
use crate::Result;

/// The scenes `glassbox render --scene` knows.
pub const NAMES: [&str; 3] = ["cornell", "door", "sky"];

/// A scene by its command-line name.
pub fn by_name(name: &str) -> Result<Scene> {
    match name {
        "cornell" => Ok(cornell_box()),
        "door" => Ok(door()),
        "sky" => Ok(outdoor(Default::default())),
        other => Err(glassbox_core::Error::InvalidOption {
            option: "--scene".into(),
            value: other.into(),
            expected: NAMES.join(", "),
        }
        .into()),
    }
}
