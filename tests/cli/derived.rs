//! Derived captures: other capture flavours generated at test time FROM the real recording
//! `samples/incident-upstream.pcap` (other link types, VLAN, byte order, pcapng with mixed
//! interfaces, missing SYNs, snaplen cuts, dropped packets, slow stdin, truncation). Nothing
//! hand-made is committed: the derivation below is the generator, written to a temp dir.

use std::path::PathBuf;

use serde_json::Value;

use crate::util::{self, run, sample};

const BROKEN_INCIDENT: &[&str] = &[
    "http10_downgrade",
    "upgrade_stripped",
    "connection_not_upgrade",
];

/// One record of a classic pcap file.
#[derive(Clone, Debug)]
struct Rec {
    /// 1-based number in the original file.
    number: u64,
    ts_sec: u32,
    /// Microseconds (the sample is a µs pcap).
    ts_usec: u32,
    orig_len: u32,
    data: Vec<u8>,
}

/// Reads a little-endian µs classic pcap: 24-byte global header, 16-byte record headers.
fn read_pcap(bytes: &[u8]) -> (u32, Vec<Rec>) {
    let le = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    assert_eq!(
        le(bytes, 0),
        0xa1b2_c3d4,
        "sample is a little-endian µs pcap"
    );
    let link = le(bytes, 20);
    let mut recs = Vec::new();
    let mut at = 24;
    while at + 16 <= bytes.len() {
        let caplen = le(bytes, at + 8) as usize;
        assert!(at + 16 + caplen <= bytes.len(), "sample record cut short");
        recs.push(Rec {
            number: recs.len() as u64 + 1,
            ts_sec: le(bytes, at),
            ts_usec: le(bytes, at + 4),
            orig_len: le(bytes, at + 12),
            data: bytes[at + 16..at + 16 + caplen].to_vec(),
        });
        at += 16 + caplen;
    }
    assert_eq!(at, bytes.len(), "sample ends on a record boundary");
    (link, recs)
}

fn incident() -> (u32, Vec<Rec>) {
    let bytes = std::fs::read(util::root().join(sample("incident-upstream.pcap"))).unwrap();
    read_pcap(&bytes)
}

/// Writes a classic µs pcap in either byte order. `orig_len` is kept relative to the record's
/// length change (a stripped header shortens the wire length by as much).
fn write_pcap(link: u32, recs: &[Rec], big_endian: bool) -> Vec<u8> {
    let w32 = |out: &mut Vec<u8>, v: u32| {
        out.extend_from_slice(&if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        })
    };
    let w16 = |out: &mut Vec<u8>, v: u16| {
        out.extend_from_slice(&if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        })
    };
    let mut out = Vec::new();
    w32(&mut out, 0xa1b2_c3d4);
    w16(&mut out, 2);
    w16(&mut out, 4);
    w32(&mut out, 0); // thiszone
    w32(&mut out, 0); // sigfigs
    w32(&mut out, 262_144);
    w32(&mut out, link);
    for r in recs {
        w32(&mut out, r.ts_sec);
        w32(&mut out, r.ts_usec);
        w32(&mut out, r.data.len() as u32);
        w32(&mut out, r.orig_len);
        out.extend_from_slice(&r.data);
    }
    out
}

/// A unique temp dir for one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wsdiag-derived-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `wsdiag analyze --format json` on `bytes` written to `dir/name`.
fn analyze_bytes(dir: &std::path::Path, name: &str, bytes: &[u8]) -> (i32, Value, String) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let path = path.to_str().unwrap().to_string();
    let (code, out, err) = run(&["analyze", "--format", "json", &path]);
    assert!(!err.contains("panicked"), "{name}: {err}");
    let v: Value = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("{name}: output is not JSON ({e}); exit {code}; {err}"));
    (code, v, path)
}

fn baseline() -> Value {
    let (code, out, err) = run(&[
        "analyze",
        "--format",
        "json",
        &sample("incident-upstream.pcap"),
    ]);
    assert_eq!(code, 1, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    // What the brief and samples/README.md promise of the recording itself.
    assert_eq!(v["summary"]["http_requests"], 3);
    assert_incident(&v, &[17, 29], "baseline");
    v
}

fn problems(h: &Value) -> Vec<&str> {
    h["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect()
}

/// Two broken handshakes with the incident's problems, 404 each, at `packets`.
fn assert_incident(v: &Value, packets: &[u64], what: &str) {
    assert_eq!(v["summary"]["http_requests"], 3, "{what}: requests");
    let hs = v["handshakes"].as_array().expect("handshakes");
    assert_eq!(hs.len(), 2, "{what}: handshakes {hs:?}");
    for (h, packet) in hs.iter().zip(packets) {
        assert_eq!(h["verdict"], "broken", "{what}: {h}");
        assert_eq!(problems(h), BROKEN_INCIDENT, "{what}");
        assert_eq!(h["response"]["status"], 404, "{what}");
        assert_eq!(h["request_packet"], *packet, "{what}: request packet");
    }
}

/// The handshakes of `v` with `input` blanked, for comparing runs on different files.
fn handshakes_without_input(v: &Value) -> Value {
    let mut hs = v["handshakes"].clone();
    for h in hs.as_array_mut().unwrap() {
        h["input"] = Value::Null;
    }
    hs
}

/// `recs` with each frame rewritten by `f`; `orig_len` follows the length change.
fn map_frames(recs: &[Rec], f: impl Fn(&[u8]) -> Vec<u8>) -> Vec<Rec> {
    recs.iter()
        .map(|r| {
            let data = f(&r.data);
            let delta = data.len() as i64 - r.data.len() as i64;
            Rec {
                data,
                orig_len: (r.orig_len as i64 + delta) as u32,
                ..r.clone()
            }
        })
        .collect()
}

/// The IPv4 packet inside an Ethernet frame (the sample is all IPv4 over Ethernet).
fn strip_ethernet(frame: &[u8]) -> Vec<u8> {
    assert_eq!(&frame[12..14], &[0x08, 0x00], "IPv4 ethertype");
    frame[14..].to_vec()
}

/// Offset of the TCP header in an Ethernet/IPv4 frame.
fn tcp_offset(frame: &[u8]) -> usize {
    assert_eq!(&frame[12..14], &[0x08, 0x00], "IPv4 ethertype");
    assert_eq!(frame[14 + 9], 6, "TCP");
    14 + usize::from(frame[14] & 0x0f) * 4
}

/// Every derived flavour that only re-wraps the same IP packets must give the very same
/// handshakes (timestamps, ports, packet numbers, evidence) and the same summary.
fn assert_same_as_baseline(v: &Value, base: &Value, what: &str) {
    assert_incident(v, &[17, 29], what);
    assert_eq!(
        handshakes_without_input(v),
        handshakes_without_input(base),
        "{what}: handshakes differ from the recording's"
    );
    assert_eq!(v["summary"], base["summary"], "{what}: summary");
    assert_eq!(v["warnings"], Value::Array(vec![]), "{what}: warnings");
}

#[test]
fn loopback_null_and_loop_link_types_give_the_same_report() {
    let base = baseline();
    let (link, recs) = incident();
    assert_eq!(link, 1);
    let dir = temp_dir("loopback");
    // NULL: address family in host order (little-endian here); LOOP: big-endian.
    for (linktype, af, name) in [
        (0u32, 2u32.to_le_bytes(), "NULL"),
        (108, 2u32.to_be_bytes(), "LOOP"),
    ] {
        let derived = map_frames(&recs, |f| {
            let mut out = af.to_vec();
            out.extend_from_slice(&strip_ethernet(f));
            out
        });
        let (code, v, _) = analyze_bytes(
            &dir,
            &format!("{name}.pcap"),
            &write_pcap(linktype, &derived, false),
        );
        assert_eq!(code, 1, "{name}");
        assert_eq!(v["inputs"][0]["link_types"], serde_json::json!([name]));
        assert_same_as_baseline(&v, &base, name);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn raw_ip_link_type_gives_the_same_report() {
    let base = baseline();
    let (_, recs) = incident();
    let dir = temp_dir("raw");
    let derived = map_frames(&recs, strip_ethernet);
    let (code, v, _) = analyze_bytes(&dir, "raw.pcap", &write_pcap(101, &derived, false));
    assert_eq!(code, 1);
    assert_eq!(v["inputs"][0]["link_types"], serde_json::json!(["RAW"]));
    assert_same_as_baseline(&v, &base, "raw");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn vlan_tagged_frames_give_the_same_report() {
    let base = baseline();
    let (_, recs) = incident();
    let dir = temp_dir("vlan");
    let derived = map_frames(&recs, |f| {
        let mut out = f[..12].to_vec();
        out.extend_from_slice(&[0x81, 0x00]);
        out.extend_from_slice(&((3u16 << 13) | 42).to_be_bytes()); // PCP 3, VID 42
        out.extend_from_slice(&f[12..]);
        out
    });
    let (code, v, _) = analyze_bytes(&dir, "vlan.pcap", &write_pcap(1, &derived, false));
    assert_eq!(code, 1);
    assert_same_as_baseline(&v, &base, "vlan");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn big_endian_pcap_gives_the_same_report() {
    let base = baseline();
    let (_, recs) = incident();
    let dir = temp_dir("be");
    let bytes = write_pcap(1, &recs, true);
    assert_eq!(&bytes[..4], &[0xa1, 0xb2, 0xc3, 0xd4]);
    // Sanity: the little-endian writer reproduces the sample byte for byte.
    let original = std::fs::read(util::root().join(sample("incident-upstream.pcap"))).unwrap();
    assert_eq!(
        write_pcap(1, &recs, false)[24..],
        original[24..],
        "writer round trip"
    );
    let (code, v, _) = analyze_bytes(&dir, "be.pcap", &bytes);
    assert_eq!(code, 1);
    assert_eq!(v["inputs"][0]["format"], "pcap");
    assert_same_as_baseline(&v, &base, "big-endian");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A little-endian pcapng block: type, length, body (padded to 4), length.
fn ng_block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
    let padded = body.len().div_ceil(4) * 4;
    let len = (12 + padded) as u32;
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    out.resize(out.len() + padded - body.len(), 0);
    out.extend_from_slice(&len.to_le_bytes());
}

/// Interface description block body with an optional `if_tsresol`.
fn ng_idb(link: u16, tsresol: Option<u8>) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&link.to_le_bytes());
    b.extend_from_slice(&0u16.to_le_bytes());
    b.extend_from_slice(&262_144u32.to_le_bytes());
    if let Some(r) = tsresol {
        b.extend_from_slice(&9u16.to_le_bytes()); // if_tsresol
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&[r, 0, 0, 0]);
        b.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
    }
    b
}

#[test]
fn pcapng_with_two_interfaces_of_different_link_types_gives_the_same_report() {
    let base = baseline();
    let (_, recs) = incident();
    let dir = temp_dir("ng");
    let mut out = Vec::new();
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1a2b_3c4du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    ng_block(&mut out, 0x0a0d_0d0a, &shb);
    ng_block(&mut out, 1, &ng_idb(1, None)); // Ethernet, µs (default)
    ng_block(&mut out, 1, &ng_idb(101, Some(9))); // raw IP, ns
    for r in &recs {
        // Odd packets (both handshake requests, their responses, the first and last packet)
        // go through the nanosecond raw-IP interface, even ones through Ethernet.
        let on_raw = r.number % 2 == 1;
        let (if_id, units, data, orig) = if on_raw {
            let ip = strip_ethernet(&r.data);
            (
                1u32,
                u64::from(r.ts_sec) * 1_000_000_000 + u64::from(r.ts_usec) * 1000,
                ip,
                r.orig_len - 14,
            )
        } else {
            (
                0u32,
                u64::from(r.ts_sec) * 1_000_000 + u64::from(r.ts_usec),
                r.data.clone(),
                r.orig_len,
            )
        };
        let mut epb = Vec::new();
        epb.extend_from_slice(&if_id.to_le_bytes());
        epb.extend_from_slice(&((units >> 32) as u32).to_le_bytes());
        epb.extend_from_slice(&(units as u32).to_le_bytes());
        epb.extend_from_slice(&(data.len() as u32).to_le_bytes());
        epb.extend_from_slice(&orig.to_le_bytes());
        epb.extend_from_slice(&data);
        ng_block(&mut out, 6, &epb);
    }
    let (code, v, _) = analyze_bytes(&dir, "two-ifaces.pcapng", &out);
    assert_eq!(code, 1);
    assert_eq!(v["inputs"][0]["format"], "pcapng");
    assert_eq!(
        v["inputs"][0]["link_types"],
        serde_json::json!(["EN10MB", "RAW"])
    );
    assert_same_as_baseline(&v, &base, "pcapng two interfaces");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn missing_syn_with_the_server_on_a_high_port_is_decided_by_the_first_bytes() {
    let base = baseline();
    let (_, recs) = incident();
    let dir = temp_dir("nosyn");
    let mut kept = Vec::new();
    let mut renumber = std::collections::HashMap::new();
    for r in &recs {
        let t = tcp_offset(&r.data);
        if r.data[t + 13] & 0x02 != 0 {
            continue; // SYN or SYN/ACK
        }
        let mut r = r.clone();
        for port_at in [t, t + 2] {
            if r.data[port_at..port_at + 2] == 8080u16.to_be_bytes() {
                r.data[port_at..port_at + 2].copy_from_slice(&65000u16.to_be_bytes());
            }
        }
        kept.push(r.clone());
        renumber.insert(r.number, kept.len() as u64);
    }
    assert_eq!(
        recs.len() - kept.len(),
        6,
        "3 connections, SYN + SYN/ACK each"
    );
    let (code, v, _) = analyze_bytes(&dir, "nosyn.pcap", &write_pcap(1, &kept, false));
    assert_eq!(code, 1);
    let expected: Vec<u64> = [17, 29].iter().map(|n| renumber[n]).collect();
    assert_incident(&v, &expected, "no SYN, port 65000");
    for h in v["handshakes"].as_array().unwrap() {
        assert_eq!(h["server"], "127.0.0.1:65000", "{h}");
        assert!(h["client"].as_str().unwrap().starts_with("127.0.0.1:"));
        assert_ne!(h["client"], h["server"]);
    }
    // Same clients as in the recording (the server's port is the only change).
    let clients = |v: &Value| -> Vec<Value> {
        v["handshakes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["client"].clone())
            .collect()
    };
    assert_eq!(clients(&v), clients(&base));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Finds `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn snaplen_cut_inside_a_handshake_head_claims_only_what_was_captured() {
    baseline();
    let (_, mut recs) = incident();
    let dir = temp_dir("snaplen");
    let r = &mut recs[16];
    assert_eq!(r.number, 17);
    let key = find(&r.data, b"Sec-WebSocket-Key:").expect("packet 17 holds the key");
    let eol = key + find(&r.data[key..], b"\r\n").unwrap() + 2;
    assert!(eol < r.data.len(), "the head goes on after the key line");
    assert!(
        find(&r.data[..eol], b"\r\n\r\n").is_none(),
        "the cut is inside the head"
    );
    assert_eq!(r.orig_len as usize, r.data.len());
    r.data.truncate(eol); // orig_len kept: the snaplen cut
    let (code, v, _) = analyze_bytes(&dir, "snaplen.pcap", &write_pcap(1, &recs, false));
    assert_eq!(code, 1, "the second handshake is still broken");
    let hs = v["handshakes"].as_array().unwrap();
    assert_eq!(hs.len(), 2, "{hs:?}");
    let first = &hs[0];
    // The request line was captured whole, so the downgrade is on the wire; Upgrade and the
    // rest of Connection may have been after the cut, so they are not claimed missing.
    assert_eq!(first["verdict"], "broken", "{first}");
    assert_eq!(problems(first), ["http10_downgrade"], "{first}");
    assert_eq!(first["request_packet"], 17);
    assert_eq!(first["request"]["head_complete"], false);
    assert_eq!(first["request"]["sec_websocket_key_present"], true);
    assert_eq!(first["request"]["version"], "HTTP/1.0");
    assert_eq!(first["request"]["host"], "game.example.com");
    assert_eq!(first["request"]["connection"], "close");
    assert_eq!(first["request"]["upgrade"], Value::Null);
    let evidence = first["evidence"].to_string();
    assert!(evidence.contains("Upgrade: not captured"), "{evidence}");
    // The 404 is still paired with its request across the gap.
    assert_eq!(first["response"]["status"], 404);
    assert_eq!(first["response_packet"], 19);
    let second = &hs[1];
    assert_eq!(second["verdict"], "broken");
    assert_eq!(problems(second), BROKEN_INCIDENT);
    assert_eq!(second["request_packet"], 29);
    assert_eq!(second["response"]["status"], 404);
    assert!(
        v["summary"]["requests_not_captured_whole"]
            .as_u64()
            .unwrap()
            >= 1,
        "{}",
        v["summary"]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_dropped_handshake_request_packet_is_not_invented_but_leaves_a_trace() {
    baseline();
    let (_, mut recs) = incident();
    let dir = temp_dir("dropped");
    assert!(find(&recs[16].data, b"GET /api/game/ws/42/alice").is_some());
    recs.remove(16);
    let (code, v, _) = analyze_bytes(&dir, "dropped.pcap", &write_pcap(1, &recs, false));
    assert_eq!(code, 1, "bob's handshake is still broken");
    let hs = v["handshakes"].as_array().unwrap();
    assert_eq!(
        hs.len(),
        1,
        "no handshake is invented for the lost one: {hs:?}"
    );
    assert!(hs[0]["request"]["target"]
        .as_str()
        .unwrap()
        .starts_with("/api/game/ws/7/bob"));
    assert_eq!(hs[0]["verdict"], "broken");
    assert_eq!(problems(&hs[0]), BROKEN_INCIDENT);
    assert_eq!(hs[0]["request_packet"], 28, "renumbered after the drop");
    // The lost request leaves a trace: it is counted as not captured whole, and alice's 404
    // (packet 19, now 18) is reported as a response with no request waiting.
    assert_eq!(
        v["summary"]["requests_not_captured_whole"], 1,
        "{}",
        v["summary"]
    );
    assert_eq!(
        v["summary"]["http_requests"], 2,
        "nothing is counted for unseen bytes"
    );
    assert_eq!(v["summary"]["by_verdict"], serde_json::json!({"broken": 1}));
    let warnings = v["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w["code"] == "unpaired_response" && w["packet"] == 18),
        "{warnings:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stdin_fed_in_small_pieces_gives_the_same_handshakes() {
    use std::io::Write;
    use std::process::Stdio;
    let base = baseline();
    let bytes = std::fs::read(util::root().join(sample("incident-upstream.pcap"))).unwrap();
    let mut child = util::wsdiag()
        .args(["analyze", "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        for (i, piece) in bytes.chunks(7).enumerate() {
            stdin.write_all(piece).unwrap();
            stdin.flush().unwrap();
            if i % 8 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["inputs"][0]["path"], "-");
    assert_eq!(v["inputs"][0]["bytes"], 4420);
    assert_same_as_baseline(&v, &base, "stdin in 7-byte pieces");
}

/// Offsets where records end (the file header's end included) in a classic pcap.
fn pcap_boundaries(bytes: &[u8]) -> Vec<usize> {
    let mut v = vec![24];
    let mut at = 24;
    while at + 16 <= bytes.len() {
        at += 16 + u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        v.push(at);
    }
    assert_eq!(at, bytes.len());
    v
}

/// Offsets where blocks end in a little-endian pcapng.
fn pcapng_boundaries(bytes: &[u8]) -> Vec<usize> {
    let mut v = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        at += u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        v.push(at);
    }
    assert_eq!(at, bytes.len());
    v
}

#[test]
fn truncation_sweep_never_panics_and_warns_about_cut_records() {
    let dir = temp_dir("sweep");
    let (mut runs, mut on_boundary, mut mid_record) = (0, 0, 0);
    for name in ["incident-upstream.pcap", "incident-upstream.pcapng"] {
        let bytes = std::fs::read(util::root().join(sample(name))).unwrap();
        let boundaries = if name.ends_with("ng") {
            pcapng_boundaries(&bytes)
        } else {
            pcap_boundaries(&bytes)
        };
        // The file header: the pcap global header, or the pcapng section header block.
        let header = boundaries[0];
        let cuts = (0..=400)
            .chain((401..=2000).step_by(23))
            .chain((2001..bytes.len()).step_by(97));
        for cut in cuts {
            runs += 1;
            let path = dir.join(format!("cut-{cut}-{name}"));
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let (code, out, err) = run(&["analyze", "--format", "json", path.to_str().unwrap()]);
            let what = format!("{name} cut at {cut}");
            assert!(!err.contains("panicked"), "{what}: {err}");
            assert!([0, 1, 2].contains(&code), "{what}: exit {code}: {err}");
            if cut < header {
                assert_eq!(code, 2, "{what}: a cut file header is unreadable");
                assert!(out.is_empty(), "{what}");
                assert_eq!(err.trim_end().lines().count(), 1, "{what}: {err}");
                continue;
            }
            assert_ne!(
                code, 2,
                "{what}: bytes after the header never give exit 2: {err}"
            );
            let v: Value = serde_json::from_str(&out)
                .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {err}"));
            let truncated = v["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w["code"] == "capture_truncated");
            if boundaries.contains(&cut) {
                on_boundary += 1;
                assert!(!truncated, "{what}: a cut on a record boundary: {v}");
            } else {
                mid_record += 1;
                assert!(truncated, "{what}: no capture_truncated warning: {v}");
            }
            // Exit 1 exactly when a broken handshake made it in.
            let broken = v["summary"]["by_verdict"]["broken"].as_u64().unwrap_or(0)
                + v["summary"]["by_verdict"]["rejected"].as_u64().unwrap_or(0);
            assert_eq!(code, i32::from(broken > 0), "{what}");
        }
    }
    // Both kinds of cut were exercised, at a cost that keeps the test quick in debug.
    assert!(
        on_boundary >= 10 && mid_record >= 100,
        "{on_boundary} {mid_record}"
    );
    assert!(runs <= 1100, "{runs} runs");
    let _ = std::fs::remove_dir_all(&dir);
}
