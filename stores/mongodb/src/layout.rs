//! Dapr's document layout, `{_id: key, value, _etag, _ttl}`, and how values
//! are kept in it.
//!
//! * `_id` is the key; `_etag` a random UUID in lower case, Dapr's form;
//!   `_ttl` the expiry as a BSON date (null or absent: none).
//! * `value`: a JSON object or array is a document or array (what makes it
//!   queryable); any other UTF-8 text (JSON strings, numbers, plain text) is
//!   a string of exactly that text, as Dapr keeps values it got as bytes;
//!   bytes that are not UTF-8 are BSON binary (Dapr cannot store those).
//! * `_statestore` holds what Dapr's layout has no place for, valid only
//!   while its `etag` equals `_etag` (a write by Dapr leaves it stale): the
//!   content type, whether a string value is JSON, and the exact bytes of a
//!   JSON value whose document would not render back byte for byte.

use std::fmt::Write as _;

use bytes::Bytes;
use mongodb::bson::{
    Binary, Bson, DateTime, Document, RawBsonRef, RawDocument, doc, spec::BinarySubtype,
};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use statestore_core::{ETag, Error, Item, Result};

/// The key field.
pub const ID: &str = "_id";
/// The value field.
pub const VALUE: &str = "value";
/// The etag field.
pub const ETAG: &str = "_etag";
/// The expiry field.
pub const TTL: &str = "_ttl";
/// What Dapr's layout has no place for.
pub const EXTRA: &str = "_statestore";

/// A new etag: a random UUID (version 4) in lower case.
pub fn new_etag() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut b = fastrand::u128(..).to_le_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut h = String::with_capacity(36);
    for (i, x) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            h.push('-');
        }
        h.push(char::from(HEX[usize::from(x >> 4)]));
        h.push(char::from(HEX[usize::from(x & 0x0f)]));
    }
    h
}

/// Checks that `etag` is one this store (or Dapr's) could have issued: a
/// UUID in lower case.
pub fn check_etag(etag: &ETag) -> Result<()> {
    let t = etag.as_str();
    let ok = t.len() == 36
        && t.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        });
    if ok {
        Ok(())
    } else {
        Err(Error::etag_invalid(format!(
            "{t:?} is not an etag of this store (a UUID in lower case)"
        )))
    }
}

/// A value as stored: the `value` field, and what goes into `_statestore`.
pub struct Stored {
    /// The `value` field.
    pub value: Bson,
    /// The exact bytes, when `value` does not render back to them.
    pub raw: Option<Bytes>,
    /// Whether a string `value` holds JSON.
    pub json: bool,
}

/// JSON up to this size always fits a document as BSON: BSON takes at
/// most about 8 bytes for each byte of JSON (small array elements).
const ALWAYS_FITS: usize = 1024 * 1024;
/// The most a JSON value may take as BSON (with its exact bytes, when
/// kept) and still leave room in a 16 MiB document for the rest.
const MAX_AS_DOCUMENT: usize = 15 * 1024 * 1024;

/// Whether a JSON value stored as BSON, with `raw` bytes beside it, fits a
/// document.
fn fits(value: &Bson, json_len: usize, raw: Option<&Bytes>) -> bool {
    if json_len <= ALWAYS_FITS {
        return true;
    }
    let bson = doc! { VALUE: value.clone() }
        .to_vec()
        .map_or(usize::MAX, |v| v.len());
    bson.saturating_add(raw.map_or(0, Bytes::len)) <= MAX_AS_DOCUMENT
}

/// How `bytes` are stored: JSON objects and arrays as documents (as Dapr
/// stores JSON, and queryable), unless that would not fit a document; then,
/// as other text, a string.
pub fn encode(bytes: &Bytes) -> Stored {
    let trimmed = bytes.trim_ascii_start();
    if matches!(trimmed.first(), Some(b'{' | b'['))
        && let Ok(value) = from_json(bytes)
    {
        let exact = render(&value).as_bytes() == &bytes[..];
        let raw = (!exact).then(|| bytes.clone());
        if fits(&value, bytes.len(), raw.as_ref()) {
            return Stored {
                value,
                raw,
                json: true,
            };
        }
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Stored {
            value: Bson::String(text.to_owned()),
            raw: None,
            json: serde_json::from_slice::<de::IgnoredAny>(bytes).is_ok(),
        },
        Err(_) => Stored {
            value: Bson::Binary(Binary {
                subtype: BinarySubtype::Generic,
                bytes: bytes.to_vec(),
            }),
            raw: None,
            json: false,
        },
    }
}

/// The field a read by key may add: the server's clock when it answered.
pub const NOW: &str = "_statestore_now";

/// The fields of a stored document, read in one pass over its raw bytes:
/// converting the whole document to a [`Document`] first cost as much as
/// the rest of a read (docs/performance.md, "bulk_get under callgrind").
#[derive(Default)]
pub struct Fields<'a> {
    /// The key.
    pub id: Option<&'a str>,
    value: Option<RawBsonRef<'a>>,
    etag: Option<&'a str>,
    /// The expiry.
    pub ttl: Option<DateTime>,
    extra: Option<&'a RawDocument>,
    /// The server's clock, when the read projected [`NOW`].
    pub now: Option<DateTime>,
}

impl<'a> Fields<'a> {
    /// Reads the fields of `doc`; fails on malformed BSON.
    pub fn read(doc: &'a RawDocument) -> Result<Fields<'a>> {
        let mut f = Fields::default();
        for field in doc {
            let (name, v) = field.map_err(|e| {
                Error::backend("a stored document could not be read").with_source(e)
            })?;
            match (name.as_str(), v) {
                (ID, RawBsonRef::String(s)) => f.id = Some(s),
                (VALUE, v) => f.value = Some(v),
                (ETAG, RawBsonRef::String(s)) => f.etag = Some(s),
                (TTL, RawBsonRef::DateTime(t)) => f.ttl = Some(t),
                (EXTRA, RawBsonRef::Document(d)) => f.extra = Some(d),
                (NOW, RawBsonRef::DateTime(t)) => f.now = Some(t),
                _ => {}
            }
        }
        Ok(f)
    }

    /// `_statestore`, when it belongs to the current write.
    fn extra(&self) -> Option<&'a RawDocument> {
        let x = self.extra?;
        (x.get_str("etag").ok() == self.etag).then_some(x)
    }

    /// The bytes of the value: the exact bytes kept in `_statestore` when
    /// they are current, else the `value` field as Dapr reads it (strings
    /// and binary as they are, other values as JSON).
    pub fn bytes(&self) -> Bytes {
        if let Some(raw) = self.extra().and_then(|x| x.get_binary("raw").ok()) {
            return Bytes::copy_from_slice(raw.bytes);
        }
        match self.value {
            Some(RawBsonRef::String(s)) => Bytes::copy_from_slice(s.as_bytes()),
            Some(RawBsonRef::Binary(b)) => Bytes::copy_from_slice(b.bytes),
            Some(other) => match Bson::try_from(other) {
                Ok(v) => Bytes::from(render(&v)),
                // Unreadable inside: what Dapr would make of it is unknown.
                Err(_) => Bytes::new(),
            },
            None => Bytes::new(),
        }
    }

    /// The content type kept with the document, when current.
    pub fn content_type(&self) -> Option<String> {
        self.extra()
            .and_then(|x| x.get_str("type").ok())
            .map(str::to_owned)
    }

    /// The etag.
    pub fn etag(&self) -> Option<ETag> {
        self.etag.map(ETag::from)
    }

    /// The document as an item.
    pub fn item(&self) -> Item {
        Item {
            etag: self.etag(),
            content_type: self.content_type(),
            expires_at: self.ttl.map(DateTime::to_system_time),
            ..Item::new(self.bytes())
        }
    }
}

/// `_statestore` for a write with etag `etag`.
pub fn extra_doc(etag: &str, stored: &Stored, content_type: Option<&str>) -> Document {
    let mut x = doc! { "etag": etag };
    if let Some(t) = content_type {
        x.insert("type", t);
    }
    if stored.json && matches!(stored.value, Bson::String(_)) {
        x.insert("json", true);
    }
    if let Some(raw) = &stored.raw {
        x.insert(
            "raw",
            Binary {
                subtype: BinarySubtype::Generic,
                bytes: raw.to_vec(),
            },
        );
    }
    x
}

/// JSON text as BSON, keeping the order of object members and treating
/// `$`-named members as plain data (no extended JSON). Fails on what BSON
/// cannot hold (a NUL in a member name).
pub fn from_json(bytes: &[u8]) -> std::result::Result<Bson, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = de.deserialize_any(JsonToBson)?;
    de.end()?;
    Ok(value)
}

struct JsonToBson;

impl<'de> Visitor<'de> for JsonToBson {
    type Value = Bson;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Bson, E> {
        Ok(Bson::Boolean(v))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Bson, E> {
        Ok(Bson::Int64(v))
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Bson, E> {
        Ok(i64::try_from(v).map_or(Bson::Double(v as f64), Bson::Int64))
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<Bson, E> {
        Ok(Bson::Double(v))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Bson, E> {
        Ok(Bson::String(v.to_owned()))
    }
    fn visit_unit<E>(self) -> std::result::Result<Bson, E> {
        Ok(Bson::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Bson, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Seed)? {
            out.push(v);
        }
        Ok(Bson::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Bson, A::Error> {
        let mut out = Document::new();
        while let Some(k) = map.next_key::<String>()? {
            if k.contains('\0') {
                return Err(de::Error::custom("a member name holds NUL"));
            }
            let v = map.next_value_seed(Seed)?;
            out.insert(k, v);
        }
        Ok(Bson::Document(out))
    }
}

struct Seed;

impl<'de> de::DeserializeSeed<'de> for Seed {
    type Value = Bson;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> std::result::Result<Bson, D::Error> {
        d.deserialize_any(JsonToBson)
    }
}

/// A BSON value as compact JSON: documents in member order, integers as
/// integers, doubles as serde_json writes them (non-finite ones as null),
/// other BSON types as a string of their BSON text.
pub fn render(v: &Bson) -> String {
    let mut out = String::new();
    write_json(&mut out, v);
    out
}

fn write_json(out: &mut String, v: &Bson) {
    match v {
        Bson::Document(d) => {
            out.push('{');
            for (i, (k, v)) in d.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(k.clone()).to_string());
                out.push(':');
                write_json(out, v);
            }
            out.push('}');
        }
        Bson::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, v);
            }
            out.push(']');
        }
        Bson::String(s) => out.push_str(&serde_json::Value::String(s.clone()).to_string()),
        Bson::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Bson::Null => out.push_str("null"),
        Bson::Int32(n) => {
            let _ = write!(out, "{n}");
        }
        Bson::Int64(n) => {
            let _ = write!(out, "{n}");
        }
        Bson::Double(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => out.push_str(&n.to_string()),
            None => out.push_str("null"),
        },
        // Types JSON lacks (dates, object ids, ...), which only other
        // writers store: their BSON text, as a JSON string.
        other => out.push_str(&serde_json::Value::String(other.to_string()).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::RawDocumentBuf;

    fn decode(d: Document) -> Bytes {
        let raw = RawDocumentBuf::try_from(&d).unwrap();
        Fields::read(&raw).unwrap().bytes()
    }

    fn content_type(d: &Document) -> Option<String> {
        let raw = RawDocumentBuf::try_from(d).unwrap();
        Fields::read(&raw).unwrap().content_type()
    }

    #[test]
    fn etags_are_lower_case_uuids() {
        let e = new_etag();
        assert!(check_etag(&ETag::new(&e)).is_ok(), "{e}");
        assert_ne!(e, new_etag());
        for bad in [
            "",
            "1",
            "not an etag!",
            &e.to_uppercase(),
            &format!(" {e}"),
            &format!("{e}0"),
        ] {
            assert!(check_etag(&ETag::new(bad)).is_err(), "{bad:?}");
        }
    }

    fn round_trip(text: &[u8]) -> (Bson, bool, Bytes) {
        let stored = encode(&Bytes::copy_from_slice(text));
        let mut d = doc! { ETAG: "e", VALUE: stored.value.clone() };
        d.insert(EXTRA, extra_doc("e", &stored, None));
        (stored.value, stored.raw.is_some(), decode(d))
    }

    #[test]
    fn values_come_back_byte_for_byte() {
        let cases: &[&[u8]] = &[
            br#"{"a":1,"b":[true,null,"x"],"c":{"$where":"1"},"z":0}"#,
            br#"{ "spaced" : 1 }"#,
            br#"{"big":18446744073709551615,"f":1.5,"e":1e3}"#,
            br#"[1,2]"#,
            b"\"a json string\"",
            b"42",
            b"plain text",
            b"",
            &[0, 0xff, 0xfe],
            br#"{"nul\u0000name":1}"#,
            b"{not json",
        ];
        for text in cases {
            let (_, _, back) = round_trip(text);
            assert_eq!(&back[..], *text, "{}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn json_documents_are_documents() {
        let (v, raw, _) = round_trip(br#"{"b":1,"a":{"c":"d"}}"#);
        assert!(!raw);
        let d = v.as_document().unwrap();
        assert_eq!(d.keys().collect::<Vec<_>>(), ["b", "a"]);
        let (v, raw, _) = round_trip(br#"{"b": 1}"#);
        assert!(raw && v.as_document().is_some());
        let (v, _, _) = round_trip(b"42");
        assert_eq!(v, Bson::String("42".into()));
        let (v, _, _) = round_trip(&[0xff]);
        assert!(matches!(v, Bson::Binary(_)));
    }

    #[test]
    fn stale_extras_are_ignored() {
        let stored = encode(&Bytes::from_static(br#"{"a": 1}"#));
        let mut d = doc! { ETAG: "new", VALUE: stored.value.clone() };
        d.insert(EXTRA, extra_doc("old", &stored, Some("text/x")));
        assert_eq!(&decode(d.clone())[..], br#"{"a":1}"#);
        assert_eq!(content_type(&d), None);
    }

    #[test]
    fn dapr_values_read_as_dapr_reads_them() {
        let d = doc! { ETAG: "e", VALUE: { "a": 1_i32, "b": 2.5 } };
        assert_eq!(&decode(d.clone())[..], br#"{"a":1,"b":2.5}"#);
        let d = doc! { ETAG: "e", VALUE: "\"quoted\"" };
        assert_eq!(&decode(d.clone())[..], b"\"quoted\"");
        let d = doc! { ETAG: "e", VALUE: 7_i64 };
        assert_eq!(&decode(d.clone())[..], b"7");
    }
}
