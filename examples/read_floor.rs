//! The reading floor for the benchmark (`benches/run.sh`): iterates a capture with wsdiag's own
//! reader and decodes every packet down to its TCP segment, with no reassembly and no HTTP.
//!
//! ```text
//! cargo run --release --example read_floor -- FILE               # the floor
//! cargo run --release --example read_floor -- --wsdiag-decode FILE
//! ```
//!
//! The floor decodes with etherparse (`wsdiag::decode::reference`): "pcap-parser + etherparse
//! touching every packet", as issue 6 defines it. `--wsdiag-decode` decodes with what `wsdiag
//! analyze` uses instead (`wsdiag::decode::decode`: fixed offsets for common packets,
//! etherparse for the rest), which shows what reading alone costs wsdiag.
//!
//! Prints one line: packets, TCP segments, payload bytes (so the work cannot be optimised away).

use wsdiag::decode::{decode, reference, Decoded};
use wsdiag::source::CaptureReader;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let own = args.first().is_some_and(|a| a == "--wsdiag-decode");
    if own {
        args.remove(0);
    }
    let [path] = &args[..] else {
        eprintln!("usage: read_floor [--wsdiag-decode] FILE");
        std::process::exit(2)
    };
    let mut reader = CaptureReader::open(path).unwrap_or_else(|e| {
        eprintln!("read_floor: {e}");
        std::process::exit(2)
    });
    let (mut packets, mut segments, mut payload) = (0u64, 0u64, 0u64);
    while let Some(p) = reader.next_packet().expect("read error") {
        packets += 1;
        let decoded = if own { decode(&p) } else { reference(&p) };
        if let Decoded::Tcp(seg) = decoded {
            segments += 1;
            payload += seg.payload.len() as u64;
        }
    }
    println!("{packets} packets, {segments} TCP segments, {payload} payload bytes");
}
