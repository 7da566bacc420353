//! Dapr's item layout: `{<partitionKey>: S key, value: S | B, etag: S,
//! <ttlAttributeName>: N epoch seconds}`, plus `contentType: S` when a write
//! names one (Dapr ignores attributes it does not know, and its own writes
//! replace the whole item, so a content type never outlives its value).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use statestore_core::{Bytes, ETag, Error, Item, Result};

/// The value attribute.
pub const VALUE: &str = "value";
/// The etag attribute.
pub const ETAG: &str = "etag";
/// The content type attribute (this SDK's own; Dapr does not write it).
pub const CONTENT_TYPE: &str = "contentType";

/// An item as DynamoDB returns it.
pub type Attributes = HashMap<String, AttributeValue>;

/// A new etag, as Dapr's store makes them: a random 64-bit number in lower
/// case hex without leading zeros.
pub fn new_etag() -> String {
    format!("{:x}", fastrand::u64(..))
}

/// `Ok` for text that can be an etag of this store or of Dapr's: 1 to 16
/// lower case hex digits. Any other text is `ETagInvalid`.
pub fn check_etag(etag: &ETag) -> Result<()> {
    let t = etag.as_str();
    if (1..=16).contains(&t.len()) && t.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(())
    } else {
        Err(Error::etag_invalid(format!(
            "{t:?} is not an etag of this store (1 to 16 lower case hex digits)"
        )))
    }
}

/// The `value` attribute of value bytes: a string when they are UTF-8 (as
/// Dapr writes JSON), binary otherwise (as Dapr writes other bytes).
pub fn encode(value: &Bytes) -> AttributeValue {
    match std::str::from_utf8(value) {
        Ok(text) => AttributeValue::S(text.to_owned()),
        Err(_) => AttributeValue::B(Blob::new(value.to_vec())),
    }
}

/// The value bytes of an item: the string or binary `value`, empty when it
/// has none (Dapr reads a missing value as empty too).
pub fn decode(item: &Attributes) -> Bytes {
    match item.get(VALUE) {
        Some(AttributeValue::S(s)) => Bytes::copy_from_slice(s.as_bytes()),
        Some(AttributeValue::B(b)) => Bytes::copy_from_slice(b.as_ref()),
        _ => Bytes::new(),
    }
}

/// Seconds since the epoch, as DynamoDB's TTL reads them.
pub fn epoch_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The expiry attribute of a write `ttl` seconds from now: rounded up to a
/// whole second, so that no key expires before its time.
pub fn expiry_after(ttl: u32) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let whole = now.as_secs() as i64 + i64::from(ttl);
    if now.subsec_nanos() > 0 {
        whole + 1
    } else {
        whole
    }
}

/// The number in an item's TTL attribute; anything but a number is no
/// expiry, as DynamoDB's TTL ignores it.
fn ttl_number(item: &Attributes, ttl_attribute: Option<&str>) -> Option<f64> {
    match item.get(ttl_attribute?)? {
        AttributeValue::N(n) => n.parse::<f64>().ok().filter(|t| t.is_finite()),
        _ => None,
    }
}

/// The expiry of an item, from its TTL attribute (epoch seconds; a number
/// at or below zero is the epoch).
pub fn expires_at(item: &Attributes, ttl_attribute: Option<&str>) -> Option<SystemTime> {
    let secs = ttl_number(item, ttl_attribute)?;
    let since = Duration::try_from_secs_f64(secs.max(0.0)).ok()?;
    UNIX_EPOCH.checked_add(since)
}

/// Whether an item has expired at `now`: its number is at or below the
/// current whole second, the rule the condition expressions apply on the
/// server (DynamoDB purges expired items late, so every read checks).
pub fn expired(item: &Attributes, ttl_attribute: Option<&str>, now: SystemTime) -> bool {
    ttl_number(item, ttl_attribute).is_some_and(|t| t <= epoch_seconds(now) as f64)
}

/// The item of stored attributes, or `None` when they have expired.
pub fn item(attrs: &Attributes, ttl_attribute: Option<&str>, now: SystemTime) -> Option<Item> {
    if expired(attrs, ttl_attribute, now) {
        return None;
    }
    let mut item = Item::new(decode(attrs));
    item.etag = match attrs.get(ETAG) {
        Some(AttributeValue::S(e)) => Some(ETag::from(e.as_str())),
        _ => None,
    };
    item.content_type = match attrs.get(CONTENT_TYPE) {
        Some(AttributeValue::S(c)) => Some(c.clone()),
        _ => None,
    };
    item.expires_at = expires_at(attrs, ttl_attribute);
    Some(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_lower_case_hex_of_at_most_16_digits() {
        for _ in 0..1000 {
            check_etag(&ETag::new(new_etag())).unwrap();
        }
        for bad in [
            "",
            "ABC",
            "0x1",
            " 1",
            "1 ",
            "12345678901234567",
            "g",
            "\"1\"",
        ] {
            assert!(check_etag(&ETag::new(bad)).is_err(), "{bad:?}");
        }
        check_etag(&ETag::new("0")).unwrap();
    }

    #[test]
    fn text_is_a_string_and_other_bytes_binary() {
        assert_eq!(
            encode(&Bytes::from_static(b"{\"a\":1}")),
            AttributeValue::S("{\"a\":1}".into())
        );
        assert!(matches!(
            encode(&Bytes::from_static(&[0xff, 0])),
            AttributeValue::B(_)
        ));
        for v in [&b""[..], b"plain", &[0xff, 0xfe, 0]] {
            let attrs = Attributes::from([(VALUE.to_owned(), encode(&Bytes::copy_from_slice(v)))]);
            assert_eq!(decode(&attrs), v);
        }
    }

    #[test]
    fn expiry_is_whole_seconds_rounded_up_and_read_from_numbers_only() {
        let now = SystemTime::now();
        let at = expiry_after(10);
        assert!(at >= epoch_seconds(now) + 10 && at <= epoch_seconds(now) + 11);
        let ttl = Some("exp");
        let with = |v: AttributeValue| Attributes::from([("exp".to_owned(), v)]);
        assert_eq!(
            expires_at(&with(AttributeValue::N("100".into())), ttl),
            Some(UNIX_EPOCH + Duration::from_secs(100))
        );
        assert_eq!(
            expires_at(&with(AttributeValue::S("100".into())), ttl),
            None
        );
        assert_eq!(
            expires_at(&with(AttributeValue::N("100".into())), None),
            None
        );
        assert!(expired(&with(AttributeValue::N("100".into())), ttl, now));
        assert!(!expired(
            &with(AttributeValue::N(format!("{at}"))),
            ttl,
            now
        ));
        // The rule of the conditions: at or below the current whole second.
        assert!(expired(&with(AttributeValue::N("-5".into())), ttl, now));
        let second = epoch_seconds(now);
        let just_before = format!("{}.9", second - 1);
        assert!(expired(&with(AttributeValue::N(just_before)), ttl, now));
        assert!(expired(
            &with(AttributeValue::N(second.to_string())),
            ttl,
            now
        ));
        let next = (second + 1).to_string();
        assert!(!expired(&with(AttributeValue::N(next)), ttl, now));
    }
}
