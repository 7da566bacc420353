//! The small value types of requests: etags, concurrency, consistency, TTL.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};
pub use crate::etag::ETag;

/// Free-form request or response metadata (Dapr's `map<string,string>`).
pub type Metadata = BTreeMap<String, String>;

/// Dapr's concurrency option: how a write with or without an etag behaves.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Concurrency {
    /// Without an etag: an unconditional upsert. With one: must match.
    #[default]
    LastWrite,
    /// Without an etag: insert only, the key must not exist. With one: must match.
    FirstWrite,
}

impl Concurrency {
    /// Dapr's spelling: `first-write` or `last-write`.
    pub fn as_str(self) -> &'static str {
        match self {
            Concurrency::LastWrite => "last-write",
            Concurrency::FirstWrite => "first-write",
        }
    }
}

impl FromStr for Concurrency {
    type Err = Error;

    /// `first-write`, `last-write`, or empty for the default; anything else is
    /// an invalid request.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "" | "last-write" => Ok(Concurrency::LastWrite),
            "first-write" => Ok(Concurrency::FirstWrite),
            other => Err(Error::invalid(format!(
                "unknown concurrency {other:?}: expected \"first-write\" or \"last-write\""
            ))),
        }
    }
}

/// Dapr's consistency option. Stores map it where the backend has a knob.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Consistency {
    /// The backend's default.
    #[default]
    Eventual,
    /// Read the latest write / wait for replicas, where the backend can.
    Strong,
}

impl Consistency {
    /// Dapr's spelling: `eventual` or `strong`.
    pub fn as_str(self) -> &'static str {
        match self {
            Consistency::Eventual => "eventual",
            Consistency::Strong => "strong",
        }
    }
}

impl FromStr for Consistency {
    type Err = Error;

    /// `eventual`, `strong`, or empty for the default; anything else is an
    /// invalid request.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "" | "eventual" => Ok(Consistency::Eventual),
            "strong" => Ok(Consistency::Strong),
            other => Err(Error::invalid(format!(
                "unknown consistency {other:?}: expected \"eventual\" or \"strong\""
            ))),
        }
    }
}

/// Time to live of one write (docs/contract.md, *TTL*).
///
/// `None` in a request means "no ttl given": the write removes an earlier
/// expiry (unless the store has a component-wide default ttl).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ttl {
    /// Never expire (`-1`); removes an earlier expiry.
    Never,
    /// Expire this many seconds after the write; 1 to [`Ttl::MAX_SECONDS`].
    Seconds(u32),
}

impl Ttl {
    /// The largest accepted ttl, `i32::MAX` seconds.
    pub const MAX_SECONDS: u32 = i32::MAX as u32;

    /// Dapr's integer form: `-1` never, `0` not given, `1..=i32::MAX` seconds;
    /// anything else is an invalid request.
    pub fn from_seconds(seconds: i64) -> Result<Option<Ttl>> {
        match seconds {
            -1 => Ok(Some(Ttl::Never)),
            0 => Ok(None),
            n if n > 0 && n <= i64::from(Self::MAX_SECONDS) => Ok(Some(Ttl::Seconds(n as u32))),
            n => Err(Error::invalid(format!(
                "ttl {n} is out of range: use -1 (never), 0 (none) or 1 to {}",
                Self::MAX_SECONDS
            ))),
        }
    }

    /// Parses the text of Dapr's `ttlInSeconds` metadata.
    pub fn parse(text: &str) -> Result<Option<Ttl>> {
        let n: i64 = text.trim().parse().map_err(|_| {
            Error::invalid(format!(
                "ttlInSeconds {text:?} is not an integer number of seconds"
            ))
        })?;
        Self::from_seconds(n)
    }

    /// The Dapr integer form: `-1` or the seconds.
    pub fn as_seconds(self) -> i64 {
        match self {
            Ttl::Never => -1,
            Ttl::Seconds(n) => i64::from(n),
        }
    }

    /// How long until expiry, or `None` for [`Ttl::Never`].
    pub fn duration(self) -> Option<Duration> {
        match self {
            Ttl::Never => None,
            Ttl::Seconds(n) => Some(Duration::from_secs(u64::from(n))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn ttl_rules() {
        assert_eq!(Ttl::from_seconds(-1).unwrap(), Some(Ttl::Never));
        assert_eq!(Ttl::from_seconds(0).unwrap(), None);
        assert_eq!(Ttl::from_seconds(5).unwrap(), Some(Ttl::Seconds(5)));
        assert_eq!(
            Ttl::from_seconds(i64::from(i32::MAX)).unwrap(),
            Some(Ttl::Seconds(i32::MAX as u32))
        );
        for bad in [-2, i64::from(i32::MAX) + 1, i64::MIN] {
            assert_eq!(
                Ttl::from_seconds(bad).unwrap_err().kind(),
                ErrorKind::InvalidRequest
            );
        }
        for bad in ["", "1.5", "abc", "-2", "99999999999"] {
            assert_eq!(
                Ttl::parse(bad).unwrap_err().kind(),
                ErrorKind::InvalidRequest
            );
        }
        assert_eq!(Ttl::parse(" 10 ").unwrap(), Some(Ttl::Seconds(10)));
    }

    #[test]
    fn option_strings() {
        assert_eq!(
            "first-write".parse::<Concurrency>().unwrap(),
            Concurrency::FirstWrite
        );
        assert_eq!("".parse::<Concurrency>().unwrap(), Concurrency::LastWrite);
        assert!("firstwrite".parse::<Concurrency>().is_err());
        assert_eq!(
            "strong".parse::<Consistency>().unwrap(),
            Consistency::Strong
        );
        assert!("STRONGER".parse::<Consistency>().is_err());
    }
}
