//! A classic pcap writer for `capture -w FILE`: microsecond timestamps, the capture's link
//! type, the file created with mode 0600 (it holds cookies and tokens) and flushed after every
//! packet so that a killed run still leaves a valid file.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::LinkType;
use crate::common::Timestamp;

pub struct PcapWriter {
    out: BufWriter<File>,
    error: Option<String>,
}

impl PcapWriter {
    pub fn create(path: &Path, link: LinkType, snaplen: u32) -> io::Result<PcapWriter> {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let file = opts.open(path)?;
        // `mode` applies only when the file is created: an existing file (a previous run's,
        // maybe 0644) is made private too. Only a regular file, never a device such as
        // /dev/stdout; best effort when it belongs to someone else.
        #[cfg(unix)]
        if file.metadata().is_ok_and(|m| m.is_file()) {
            use std::os::unix::fs::PermissionsExt;
            let _ = file.set_permissions(std::fs::Permissions::from_mode(0o600));
        }
        let mut out = BufWriter::with_capacity(256 << 10, file);
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        header[16..20].copy_from_slice(&snaplen.to_le_bytes());
        header[20..24].copy_from_slice(&(link.0 as u32).to_le_bytes());
        out.write_all(&header)?;
        out.flush()?;
        Ok(PcapWriter { out, error: None })
    }

    /// Appends one packet and flushes. After the first error, writes nothing more and keeps
    /// the error for the report.
    pub fn write(&mut self, ts: Timestamp, orig_len: u32, data: &[u8]) {
        if self.error.is_some() {
            return;
        }
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&(ts.secs() as u32).to_le_bytes());
        rec[4..8].copy_from_slice(&(ts.subsec_nanos() / 1000).to_le_bytes());
        rec[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
        rec[12..16].copy_from_slice(&orig_len.to_le_bytes());
        let r = self
            .out
            .write_all(&rec)
            .and_then(|()| self.out.write_all(data))
            .and_then(|()| self.out.flush());
        if let Err(e) = r {
            self.error = Some(e.to_string());
        }
    }

    pub fn error(&self) -> Option<String> {
        self.error.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::CaptureReader;

    #[test]
    fn written_file_reads_back_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!("wsdiag-writer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tee.pcap");
        let mut w = PcapWriter::create(&path, LinkType::ETHERNET, 262_144).unwrap();
        w.write(
            Timestamp::from_parts(1_700_000_000, 123_456_000),
            100,
            &[7u8; 60],
        );
        w.write(Timestamp::from_parts(1_700_000_001, 0), 60, &[8u8; 60]);
        assert!(w.error().is_none());
        // Not dropped: a killed run leaves what was flushed.
        let mut r = CaptureReader::open(path.to_str().unwrap()).unwrap();
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!(
            (
                p.number,
                p.ts.secs(),
                p.ts.subsec_nanos(),
                p.orig_len,
                p.data.len()
            ),
            (1, 1_700_000_000, 123_456_000, 100, 60)
        );
        assert_eq!(p.data[0], 7);
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!((p.number, p.data[0]), (2, 8));
        assert!(r.next_packet().unwrap().is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        drop(w);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_file_is_made_private_too() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("wsdiag-writer-old-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("old.pcap");
        std::fs::write(&path, b"a previous run").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let w = PcapWriter::create(&path, LinkType::ETHERNET, 262_144).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        drop(w);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
