//! TCP: owns the connection table, per-direction reassembly and sequence-number arithmetic.

mod assembler;
mod seq;

pub use assembler::{Assembler, Chunk};
pub use seq::SeqNum;
