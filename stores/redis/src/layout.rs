//! Where a user key lives in Redis: its name, and in a cluster its hash slot.
//!
//! A standalone server stores every key under its own name, as Dapr does.
//!
//! Redis Cluster runs a script (and so a transaction) only on keys of one
//! hash slot. To keep one actor's keys together, a key with four or more
//! `||`-separated parts (Dapr's actor layout
//! `appId||actorType||actorId||stateKey`) has a *partition*: its first three
//! parts, the `partitionKey` Dapr sends. In a cluster such a key is stored as
//! `{h}key`, where `h` is a 16-digit hex hash of the partition: Redis hashes
//! only the text in braces, so all keys of one partition share a slot while
//! partitions spread over the cluster. Every other key keeps its name (and
//! any hash tag of its own) and so its own slot: an application's plain
//! keys (`appId||key`) spread over every primary. Every direct child of a
//! prefix of three or more parts has the prefix's first three parts as its
//! partition, so deleting an actor's state stays within one slot.

use std::borrow::Cow;

use statestore_core::check::SEPARATOR;

/// How many slots Redis Cluster has.
pub const SLOTS: u16 = 16384;

/// The length of the `{h}` tag in front of a partitioned key.
const TAG_LEN: usize = 18;

/// The first three parts of a key of four or more, which decide its slot.
pub fn partition(key: &str) -> Option<&str> {
    let third = key.match_indices(SEPARATOR).nth(2)?.0;
    Some(&key[..third])
}

/// FNV-1a, 64 bits: small, stable forever (it is part of the stored key
/// names), and spreads partitions evenly over slots.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Maps user keys to Redis key names and back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Whether keys are tagged by partition (Redis Cluster).
    pub cluster: bool,
}

impl Layout {
    /// The Redis name of a user key: the key itself, without a copy,
    /// unless it is tagged.
    pub fn name<'a>(&self, key: &'a str) -> Cow<'a, str> {
        if !self.cluster {
            return Cow::Borrowed(key);
        }
        match partition(key) {
            Some(p) => Cow::Owned(format!("{{{:016x}}}{key}", fnv1a(p))),
            None => Cow::Borrowed(key),
        }
    }

    /// The user key of a Redis name found by a scan.
    pub fn user_key<'a>(&self, name: &'a str) -> &'a str {
        if !self.cluster {
            return name;
        }
        let b = name.as_bytes();
        let tagged = b.len() > TAG_LEN
            && b[0] == b'{'
            && b[TAG_LEN - 1] == b'}'
            && b[1..TAG_LEN - 1].iter().all(u8::is_ascii_hexdigit);
        // Only a tag this layout would write: the hash of the rest's partition.
        match name.get(TAG_LEN..) {
            Some(rest) if tagged && partition(rest).is_some() && self.name(rest) == name => rest,
            _ => name,
        }
    }

    /// The slot calls on `name` are grouped by: its hash slot in a
    /// cluster; 0 on one server, where slots do not matter.
    pub fn slot_of(&self, name: &str) -> u16 {
        if self.cluster { Self::slot(name) } else { 0 }
    }

    /// The hash slot of a Redis name (Redis's CRC16 of its hash tag).
    pub fn slot(name: &str) -> u16 {
        let b = name.as_bytes();
        let tagged = b.iter().position(|&c| c == b'{').and_then(|open| {
            let close = b[open + 1..].iter().position(|&c| c == b'}')?;
            (close > 0).then(|| &b[open + 1..open + 1 + close])
        });
        crc16(tagged.unwrap_or(b)) % SLOTS
    }

    /// A SCAN `MATCH` pattern that finds at least every name whose user key
    /// starts with `literal_prefix`; the caller filters exactly.
    pub fn scan_pattern(&self, literal_prefix: &str) -> String {
        let mut out = String::with_capacity(literal_prefix.len() + 4);
        if self.cluster {
            // A tagged name starts with `{h}`: match anywhere after it.
            out.push('*');
        }
        for c in literal_prefix.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('*');
        out
    }
}

/// CRC16/XMODEM, as Redis Cluster computes slots, a byte at a time
/// through a table: the bit-by-bit loop was most of building a `SET` in a
/// cluster (docs/performance.md, "Where the short cells' time goes").
fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ b)]
    })
}

/// The CRC16/XMODEM (polynomial 0x1021) of each byte value.
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions() {
        let table = [
            ("plain", None),
            ("orders||42", None),
            ("a||b||c", None),
            ("app||type||id||key", Some("app||type||id")),
            ("app||type||id||k||sub||more", Some("app||type||id")),
            ("||||||x", Some("||||")),
            ("a|||b||c||d", Some("a|||b||c")),
        ];
        for (key, want) in table {
            assert_eq!(partition(key), want, "{key}");
        }
    }

    #[test]
    fn names_round_trip_and_share_slots() {
        let cluster = Layout { cluster: true };
        let node = Layout { cluster: false };
        for key in [
            "plain",
            "{tag}x",
            "a||b",
            "app||t||id||k",
            "{0123456789abcdef}x||y",
        ] {
            assert_eq!(node.name(key), key);
            assert_eq!(cluster.user_key(&cluster.name(key)), key, "{key}");
        }
        assert_eq!(cluster.name("plain"), "plain");
        let slot = |k: &str| Layout::slot(&cluster.name(k));
        assert_eq!(slot("app||t||id||a"), slot("app||t||id||b||c"));
        assert_eq!(slot("run||c||p||x"), slot("run||c||p||y||z"));
        let spread: std::collections::HashSet<u16> =
            (0..100).map(|i| slot(&format!("app||t||{i}||k"))).collect();
        assert!(
            spread.len() > 90,
            "actors spread over slots: {}",
            spread.len()
        );
    }

    #[test]
    fn slots_match_redis() {
        // Values from `CLUSTER KEYSLOT` on Redis 7.
        assert_eq!(Layout::slot("foo"), 12182);
        assert_eq!(
            Layout::slot("{user1000}.following"),
            Layout::slot("user1000")
        );
        assert_eq!(Layout::slot("{}x"), Layout::slot("{}x"));
        assert_eq!(Layout::slot("123456789"), 0x31c3 % SLOTS);
        assert_eq!(crc16(b"123456789"), 0x31c3);
        assert_eq!(crc16(b""), 0);
        let cluster = Layout { cluster: true };
        assert_eq!(cluster.slot_of("foo"), 12182);
        assert_eq!(Layout { cluster: false }.slot_of("foo"), 0);
    }

    #[test]
    fn scan_patterns_escape_glob() {
        let node = Layout { cluster: false };
        assert_eq!(node.scan_pattern("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\*");
        assert_eq!(Layout { cluster: true }.scan_pattern("p||"), "*p||*");
    }
}
