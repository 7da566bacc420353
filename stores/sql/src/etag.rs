//! SQL etags: a random 64-bit number per write, shown as 16 hex digits.
//!
//! Random rather than a per-row counter, so that an etag is never reused when
//! a key is deleted and written again (a counter would restart and let a stale
//! etag match the new row). The client draws it, so `set` can return it
//! without reading the row back; the server still does the check.

use statestore_core::{ETag, Error, Result};

/// A fresh etag.
pub fn fresh() -> i64 {
    fastrand::i64(..)
}

/// The etag's text, digit by digit: every item read formats one, and
/// `format!` costs several times as much (docs/performance.md).
pub fn format(etag: i64) -> ETag {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let v = etag as u64;
    let mut text = [0u8; 16];
    for (i, digit) in text.iter_mut().enumerate() {
        *digit = HEX[((v >> (60 - 4 * i)) & 0xf) as usize];
    }
    // Always ASCII.
    ETag::from(std::str::from_utf8(&text).unwrap_or_default())
}

/// Parses an etag's text exactly as [`format()`] writes it: 16 lowercase hex
/// digits. Anything else could never have been issued, so it is
/// `ETagInvalid` (and two spellings never match the same etag).
pub fn parse(etag: &ETag) -> Result<i64> {
    let s = etag.as_str();
    if s.len() != 16 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(Error::etag_invalid(format!(
            "{:?} is not an etag of this store (16 hex digits)",
            s.chars().take(40).collect::<String>()
        )));
    }
    u64::from_str_radix(s, 16)
        .map(|v| v as i64)
        .map_err(|_| Error::etag_invalid("out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_invalid_forms() {
        for v in [0, 1, -1, i64::MIN, i64::MAX, fresh()] {
            assert_eq!(parse(&format(v)).unwrap(), v);
        }
        assert_eq!(format(-1).as_str(), "ffffffffffffffff");
        assert_eq!(format(1).as_str(), "0000000000000001");
        assert_eq!(format(0x0123_4567_89ab_cdef).as_str(), "0123456789abcdef");
        for v in [0, 7, -2, i64::MIN, fresh()] {
            assert_eq!(format(v).as_str(), std::format!("{:016x}", v as u64));
        }
        for bad in [
            "",
            "xyz",
            "12345678901234567",
            "-1",
            " 1",
            "0x1",
            "f",
            "FFFFFFFFFFFFFFFF",
            "000000000000000g",
        ] {
            let e = parse(&ETag::from(bad)).unwrap_err();
            assert_eq!(e.kind(), statestore_core::ErrorKind::ETagInvalid, "{bad}");
        }
    }
}
