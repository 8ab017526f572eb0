//! Q-learning path guiding after Dahm & Keller, "Learning light transport the reinforced way" (2017,
//! arXiv 1701.07403): a table of incoming radiance per hemisphere patch at points spread over the surfaces,
//! learned from the paths as they are traced and used to choose where the next ones go.

pub mod hemisphere;
pub mod qtable;

pub use qtable::{QTable, QTableConfig, Update};
