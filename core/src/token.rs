//! Paging tokens of `keys_like` and the hex helpers every token uses.
//!
//! A token is opaque to callers but plain to us: a version prefix and the
//! hex of what the next page resumes after, so it survives any transport and
//! a malformed one is told apart at once.

use crate::error::{Error, Result};
use crate::response::KeysPage;

/// The paging token that resumes after `last_key` (keyset paging: keys are
/// listed in order and a page continues strictly after the last key seen, so
/// every key present throughout is listed exactly once).
pub fn page_token(last_key: &str) -> String {
    format!("k1{}", hex(last_key.as_bytes()))
}

/// One page of `keys` (sorted, at most one more than the page size): the
/// first `page_size` keys, and a token exactly when more remain.
pub fn page(mut keys: Vec<String>, page_size: Option<u32>) -> KeysPage {
    let limit = page_size.map_or(usize::MAX, |n| n as usize);
    let token = if keys.len() > limit {
        keys.truncate(limit);
        keys.last().map(|k| page_token(k))
    } else {
        None
    };
    KeysPage { keys, token }
}

/// The key a token made by [`page_token`] resumes after.
pub fn parse_page_token(token: &str) -> Result<String> {
    token
        .strip_prefix("k1")
        .and_then(unhex)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| Error::invalid(format!("malformed page token {:?}", cut(token))))
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The bytes of a hex string, or `None` when it is not one.
pub(crate) fn unhex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

/// The first 40 characters of `s`: enough of a bad token to recognise it
/// in a message, never a whole page of it.
pub(crate) fn cut(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for key in ["a", "ünï||cödé", "k'; DROP TABLE x; --", ""] {
            assert_eq!(parse_page_token(&page_token(key)).unwrap(), key);
        }
        for bad in ["", "k1z", "k1a", "x100", "k1ff"] {
            assert!(parse_page_token(bad).is_err(), "{bad}");
        }
    }
}
