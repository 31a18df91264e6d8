//! The dependency-free primitives every Spillover crate shares, each with one home:
//!
//! - [`rng`]: the seeded generators (SplitMix64, and xoshiro256** seeded through it), whose
//!   streams are fixed by this crate rather than by another crate's version;
//! - [`fs`]: the atomic file write, with one durability rule.
//!
//! It sits below every other crate (it depends on nothing), so any of them can use it without an
//! arrow upward.

pub mod fs;
pub mod rng;
