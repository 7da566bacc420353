//! The compact layout's record: one Redis string holding a key's etag,
//! expiry, content type and value, so a read is one `GET` and an
//! unconditional write one `SET`.
//!
//! ```text
//! MAGIC (4 bytes) | etag length (1) | etag (decimal digits)
//! | expiry, Unix ms, big-endian u64 (8; 0 for none)
//! | content type length, big-endian u16 (2) | content type | value
//! ```
//!
//! The magic starts with 0xF5, a byte that never occurs in UTF-8, so no
//! text a user wrote with plain `SET` reads as a record. The write script
//! (`write.lua`) reads the header with `GETRANGE key 0 34` and makes the
//! same checks as [`decode`]: keep the two in step.

use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Buf, Bytes};
use redis::{RedisWrite, ToRedisArgs};
use statestore_core::check::Write;
use statestore_core::{ETag, Error, Item, Result};

/// The first four bytes of every record (the last is the format's version).
pub const MAGIC: [u8; 4] = [0xF5, b's', b's', 1];

/// Refuses a write whose content type a record cannot hold; checked for
/// every write, whatever the layout, so both layouts take the same.
pub fn check_write(w: &Write) -> Result<()> {
    check_content_type(w.content_type.as_deref()).map_err(|e| e.with_key(w.key.clone()))
}

/// Refuses a content type over 65,535 bytes.
fn check_content_type(content_type: Option<&str>) -> Result<()> {
    match content_type {
        Some(c) if c.len() > usize::from(u16::MAX) => Err(Error::invalid(format!(
            "content type of {} bytes: this store keeps at most 65,535",
            c.len()
        ))),
        _ => Ok(()),
    }
}

/// A record to write, checked; its bytes go straight into the command that
/// carries it ([`ToRedisArgs`]), without a buffer of their own in between.
pub struct Record<'a> {
    etag: &'a str,
    exp_ms: u64,
    content_type: &'a str,
    value: &'a [u8],
}

impl<'a> Record<'a> {
    /// The record of a value. `exp_ms` is the expiry in Unix milliseconds,
    /// 0 for none.
    pub fn new(
        etag: &'a str,
        exp_ms: u64,
        content_type: Option<&'a str>,
        value: &'a [u8],
    ) -> Result<Self> {
        check_content_type(content_type)?;
        if etag.len() > usize::from(u8::MAX) {
            return Err(Error::backend(format!(
                "an etag of {} bytes does not fit a record",
                etag.len()
            )));
        }
        Ok(Record {
            etag,
            exp_ms,
            content_type: content_type.unwrap_or(""),
            value,
        })
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        15 + self.etag.len() + self.content_type.len() + self.value.len()
    }
}

impl ToRedisArgs for Record<'_> {
    fn write_redis_args<W: ?Sized + RedisWrite>(&self, out: &mut W) {
        let mut w = out.writer_for_next_arg();
        // Both lengths were checked by `Record::new`; a command's buffer
        // takes every write.
        for part in [
            &MAGIC[..],
            &[self.etag.len() as u8],
            self.etag.as_bytes(),
            &self.exp_ms.to_be_bytes(),
            &(self.content_type.len() as u16).to_be_bytes(),
            self.content_type.as_bytes(),
            self.value,
        ] {
            let _ = w.write_all(part);
        }
    }
}

/// The expiry of a write with a ttl of `ttl_ms` milliseconds made now, on
/// this machine's clock (Redis drops the key by its own clock: `SET ... PX`).
pub fn expiry_ms(ttl_ms: u64) -> u64 {
    if ttl_ms == 0 {
        return 0;
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (now.as_millis() as u64).saturating_add(ttl_ms)
}

fn not_a_record() -> Error {
    Error::backend(
        "the key holds another type of value, not written by this store (a string that is not a statestore record)",
    )
}

/// Decodes a record; the value is a slice of `bytes`, not a copy.
pub fn decode(bytes: Vec<u8>) -> Result<Item> {
    let b = &bytes[..];
    if b.len() < 5 || b[..4] != MAGIC {
        return Err(not_a_record());
    }
    if !(1..=20).contains(&b[4]) {
        return Err(not_a_record());
    }
    let etag_end = 5 + usize::from(b[4]);
    let ctype_at = etag_end + 10;
    let (Some(etag), Some(exp), Some(ctype_len)) = (
        b.get(5..etag_end),
        b.get(etag_end..etag_end + 8),
        b.get(etag_end + 8..ctype_at),
    ) else {
        return Err(not_a_record());
    };
    let exp = u64::from_be_bytes(exp.try_into().unwrap_or_default());
    let value_at = ctype_at + usize::from(u16::from_be_bytes([ctype_len[0], ctype_len[1]]));
    let (Some(ctype), true) = (b.get(ctype_at..value_at), value_at <= b.len()) else {
        return Err(not_a_record());
    };
    let etag = match std::str::from_utf8(etag) {
        Ok(e) if e.bytes().all(|b| b.is_ascii_digit()) => Some(ETag::from(e)),
        _ => return Err(not_a_record()),
    };
    // A content type that is not UTF-8 (only written by hand) reads with
    // replacement characters, as the script accepts it too.
    let content_type = (!ctype.is_empty()).then(|| String::from_utf8_lossy(ctype).into_owned());
    Ok(Item {
        etag,
        content_type,
        expires_at: (exp > 0).then(|| UNIX_EPOCH + Duration::from_millis(exp)),
        metadata: Default::default(),
        value: {
            // advance, not slice: slicing clones, which would move the
            // buffer into a shared allocation.
            let mut value = Bytes::from(bytes);
            value.advance(value_at);
            value
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record's bytes, as a command would carry them.
    fn encode(etag: &str, exp: u64, ctype: Option<&str>, value: &[u8]) -> Result<Vec<u8>> {
        let rec = Record::new(etag, exp, ctype, value)?;
        let mut args = rec.to_redis_args();
        assert_eq!(args.len(), 1);
        assert_eq!(args[0].len(), rec.len());
        Ok(args.remove(0))
    }

    #[test]
    fn round_trips() {
        for (etag, exp, ctype, value) in [
            ("1", 0, None, &b""[..]),
            (
                "9223372036854775807",
                1_765_000_000_123,
                Some("application/json"),
                &b"{\"a\":1}"[..],
            ),
            ("42", 0, Some(""), &[0xF5, 0, 1, 2][..]),
        ] {
            let rec = encode(etag, exp, ctype, value).unwrap();
            let item = decode(rec).unwrap();
            assert_eq!(&item.value[..], value);
            assert_eq!(item.etag.unwrap().as_str(), etag);
            assert_eq!(
                item.content_type.as_deref(),
                ctype.filter(|c| !c.is_empty())
            );
            assert_eq!(
                item.expires_at,
                (exp > 0).then(|| UNIX_EPOCH + Duration::from_millis(exp))
            );
        }
    }

    #[test]
    fn the_script_finds_the_header_in_the_first_35_bytes() {
        let rec = encode("12345678901234567890", 7, Some("text/plain"), b"v").unwrap();
        assert_eq!(&rec[..4], &MAGIC);
        assert_eq!(rec[4], 20);
        assert_eq!(&rec[5..25], b"12345678901234567890");
        assert_eq!(&rec[33..35], &10u16.to_be_bytes());
    }

    #[test]
    fn anything_else_is_refused_never_a_panic() {
        let good = encode("7", 0, Some("text/plain"), b"value").unwrap();
        let mut cases: Vec<Vec<u8>> = vec![
            b"plain text".to_vec(),
            b"".to_vec(),
            MAGIC.to_vec(),
            [&MAGIC[..], &[200]].concat(),
            [&MAGIC[..], &[1, b'1', 0, 0]].concat(),
            [&MAGIC[..], &[1, 0xFF], &[0; 8], &[0, 0]].concat(),
            [&MAGIC[..], &[0], &[0; 8], &[0, 0]].concat(),
            [&MAGIC[..], &[2, b'1', b'x'], &[0; 8], &[0, 0]].concat(),
            [&MAGIC[..], &[21], &[b'1'; 21], &[0; 8], &[0, 0]].concat(),
        ];
        // Every truncation of a good record short of its content type's end.
        for n in 0..good.len() - 5 {
            cases.push(good[..n].to_vec());
        }
        for c in cases {
            let e = decode(c.clone()).unwrap_err();
            assert!(e.to_string().contains("another type"), "{c:?}: {e}");
        }
        let huge = "x".repeat(70_000);
        assert!(encode("1", 0, Some(&huge), b"").is_err());
    }
}
