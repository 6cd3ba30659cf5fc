//! The reading floor for the benchmark (`benches/run.sh`): iterates a capture with wsdiag's own
//! reader and decodes every packet down to its TCP segment, with no reassembly and no HTTP.
//! What `wsdiag analyze` costs beyond this is the analysis itself.
//!
//! ```text
//! cargo run --release --example read_floor -- FILE
//! ```
//!
//! Prints one line: packets, TCP segments, payload bytes (so the work cannot be optimised away).

use wsdiag::decode::{decode, Decoded};
use wsdiag::source::CaptureReader;

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        eprintln!("usage: read_floor FILE");
        std::process::exit(2)
    });
    let mut reader = CaptureReader::open(&path).unwrap_or_else(|e| {
        eprintln!("read_floor: {e}");
        std::process::exit(2)
    });
    let (mut packets, mut segments, mut payload) = (0u64, 0u64, 0u64);
    while let Some(p) = reader.next_packet().expect("read error") {
        packets += 1;
        if let Decoded::Tcp(seg) = decode(&p) {
            segments += 1;
            payload += seg.payload.len() as u64;
        }
    }
    println!("{packets} packets, {segments} TCP segments, {payload} payload bytes");
}
