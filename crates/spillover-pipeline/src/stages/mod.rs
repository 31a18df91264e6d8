//! The stages of an experiment, in data-flow order.

pub mod compare;
pub mod data;
pub mod evaluate;
pub mod explain;
pub mod semantic;
