//! TCP sequence numbers. Owns the one place where two sequence numbers are compared: everything
//! else asks [`SeqNum`] for a wrapping distance instead of writing `a < b` on raw `u32`s.

use std::cmp::Ordering;
use std::fmt;
use std::ops::Add;

/// A 32-bit TCP sequence number, compared modulo 2^32 (RFC 793 section 3.3, RFC 1982).
///
/// `a < b` means "b is less than 2^31 bytes after a". Two numbers exactly 2^31 apart are
/// incomparable (`partial_cmp` returns `None`), which is why this is `PartialOrd` and not `Ord`:
/// wrapping order is not transitive, so it must never key a sorted container.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// Signed distance from `origin` to `self`: positive when `self` comes after `origin`.
    /// Exact as long as the two are less than 2^31 apart.
    pub fn distance(self, origin: SeqNum) -> i32 {
        self.0.wrapping_sub(origin.0) as i32
    }
}

impl Add<u32> for SeqNum {
    type Output = SeqNum;
    fn add(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(n))
    }
}

impl PartialOrd for SeqNum {
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        match self.distance(*other) {
            i32::MIN => None,
            d => Some(d.cmp(&0)),
        }
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_wraps() {
        assert_eq!(SeqNum(u32::MAX) + 1, SeqNum(0));
        assert_eq!(SeqNum(u32::MAX - 2) + 10, SeqNum(7));
    }

    #[test]
    fn distance_is_signed_and_wraps() {
        assert_eq!(SeqNum(7).distance(SeqNum(u32::MAX - 2)), 10);
        assert_eq!(SeqNum(u32::MAX - 2).distance(SeqNum(7)), -10);
        assert_eq!(SeqNum(5).distance(SeqNum(5)), 0);
    }

    #[test]
    fn order_follows_wrapping_distance() {
        assert!(SeqNum(u32::MAX) < SeqNum(0));
        assert!(SeqNum(1) > SeqNum(u32::MAX - 1));
        assert!(SeqNum(100) < SeqNum(200));
        assert!(SeqNum(3) <= SeqNum(3));
        // half the space apart: neither before nor after
        assert_eq!(SeqNum(0).partial_cmp(&SeqNum(1 << 31)), None);
        assert_eq!(SeqNum(1 << 31).partial_cmp(&SeqNum(0)), None);
    }
}
