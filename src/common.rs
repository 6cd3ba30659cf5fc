//! Small types every stage shares: which way bytes flow, where a packet sits in the capture,
//! and the warning record that odd input turns into.

use std::fmt;

/// Which way bytes travel on a connection. The client is the side that opened it (sent the SYN)
/// or, when the capture missed the SYN, the side inferred to send requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    ToServer,
    ToClient,
}

impl Direction {
    pub fn reverse(self) -> Direction {
        match self {
            Direction::ToServer => Direction::ToClient,
            Direction::ToClient => Direction::ToServer,
        }
    }
    /// 0 for `ToServer`, 1 for `ToClient`: for indexing per-direction arrays.
    pub fn index(self) -> usize {
        match self {
            Direction::ToServer => 0,
            Direction::ToClient => 1,
        }
    }
}

/// A capture timestamp: nanoseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn from_parts(secs: i64, nanos: u32) -> Timestamp {
        Timestamp(
            secs.saturating_mul(1_000_000_000)
                .saturating_add(nanos as i64),
        )
    }
    pub fn secs(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }
    pub fn subsec_nanos(self) -> u32 {
        self.0.rem_euclid(1_000_000_000) as u32
    }
    /// Nanoseconds from `earlier` to `self`, saturating: capture timestamps can be anything.
    pub fn nanos_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Seconds from `earlier` to `self` (negative when `self` is earlier), without overflow.
    pub fn secs_since(self, earlier: Timestamp) -> f64 {
        (i128::from(self.0) - i128::from(earlier.0)) as f64 / 1e9
    }

    /// RFC 3339 in UTC with microseconds, e.g. `2026-11-26T11:10:46.123456Z`.
    pub fn rfc3339(self) -> String {
        let (y, m, d, hh, mm, ss) = civil(self.secs());
        format!(
            "{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{:06}Z",
            self.subsec_nanos() / 1000
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

/// Seconds since the epoch to (year, month, day, hour, minute, second) in UTC
/// (Howard Hinnant's days-to-civil algorithm).
fn civil(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem / 60 % 60) as u32,
        (rem % 60) as u32,
    )
}

/// Where a packet sits in its capture: its 1-based number (the one Wireshark shows) and time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketRef {
    pub number: u64,
    pub ts: Timestamp,
}

/// Something odd in the input, recorded with the packet it came from; the run goes on.
/// `code` is a stable snake_case name (e.g. `capture_truncated`, `reassembly_limit`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub packet: Option<u64>,
    pub code: &'static str,
    pub message: String,
}

/// "1 thing", "2 things".
pub fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(Timestamp(0).rfc3339(), "1970-01-01T00:00:00.000000Z");
        // 2026-02-01T12:34:56.789012Z
        let t = Timestamp::from_parts(1_769_949_296, 789_012_345);
        assert_eq!(t.rfc3339(), "2026-02-01T12:34:56.789012Z");
        // leap day
        assert_eq!(
            Timestamp::from_parts(951_782_400, 0).rfc3339(),
            "2000-02-29T00:00:00.000000Z"
        );
    }
}
