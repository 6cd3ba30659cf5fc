//! TCP: owns the connection table, per-direction reassembly and sequence-number arithmetic.

mod seq;

pub use seq::SeqNum;
