//! What a store offers: feature flags (printed with Dapr's names) and limits.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// One optional feature, named as Dapr names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Feature {
    /// Etags and first-write.
    ETag,
    /// All-or-nothing transactions.
    Transactional,
    /// Per-write time to live.
    Ttl,
    /// `delete_with_prefix`.
    DeleteWithPrefix,
    /// `keys_like`.
    KeysLike,
    /// `query`.
    QueryApi,
}

impl Feature {
    /// Every feature, in Dapr's order.
    pub const ALL: [Feature; 6] = [
        Feature::ETag,
        Feature::Transactional,
        Feature::Ttl,
        Feature::DeleteWithPrefix,
        Feature::KeysLike,
        Feature::QueryApi,
    ];

    /// Dapr's name: `ETAG`, `TRANSACTIONAL`, `TTL`, `DELETE_WITH_PREFIX`,
    /// `KEYS_LIKE`, `QUERY_API`.
    pub fn name(self) -> &'static str {
        match self {
            Feature::ETag => "ETAG",
            Feature::Transactional => "TRANSACTIONAL",
            Feature::Ttl => "TTL",
            Feature::DeleteWithPrefix => "DELETE_WITH_PREFIX",
            Feature::KeysLike => "KEYS_LIKE",
            Feature::QueryApi => "QUERY_API",
        }
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Feature {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Feature::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<_> = Feature::ALL.iter().map(|f| f.name()).collect();
                Error::invalid(format!(
                    "unknown feature {s:?}: expected one of {}",
                    names.join(", ")
                ))
            })
    }
}

/// A set of [`Feature`]s. Prints as Dapr's comma-separated names.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Features(u8);

impl Features {
    /// No feature.
    pub const NONE: Features = Features(0);
    /// Every feature.
    pub const ALL: Features = Features(0b11_1111);

    /// The set holding just `feature`.
    pub const fn of(feature: Feature) -> Features {
        Features(feature.bit())
    }

    /// This set plus `feature` (usable in `const` registrations).
    pub const fn with(self, feature: Feature) -> Features {
        Features(self.0 | feature.bit())
    }

    /// This set without `feature`.
    pub const fn without(self, feature: Feature) -> Features {
        Features(self.0 & !feature.bit())
    }

    /// Whether `feature` is in the set.
    pub const fn contains(self, feature: Feature) -> bool {
        self.0 & feature.bit() != 0
    }

    /// Whether every feature of `other` is in the set.
    pub const fn contains_all(self, other: Features) -> bool {
        self.0 & other.0 == other.0
    }

    /// The features in the set, in Dapr's order.
    pub fn iter(self) -> impl Iterator<Item = Feature> {
        Feature::ALL.into_iter().filter(move |f| self.contains(*f))
    }

    /// The features not in the set.
    pub fn missing(self) -> Features {
        Features(Self::ALL.0 & !self.0)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<Feature> for Features {
    fn from_iter<I: IntoIterator<Item = Feature>>(iter: I) -> Self {
        iter.into_iter().fold(Features::NONE, Features::with)
    }
}

impl fmt::Display for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.iter().map(Feature::name).collect();
        f.write_str(&names.join(", "))
    }
}

impl fmt::Debug for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Features({self})")
    }
}

/// Limits of one store instance. `None` means no limit of the store's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    /// Most operations in one transaction.
    pub max_transaction_ops: Option<usize>,
    /// Most keys a bulk call sends in one round trip (larger calls are split).
    pub max_bulk_batch: Option<usize>,
    /// Longest key, in UTF-8 bytes.
    pub max_key_len: Option<usize>,
    /// Largest value, in bytes.
    pub max_value_len: Option<usize>,
}

/// What one initialised store offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Optional features.
    pub features: Features,
    /// Limits.
    pub limits: Limits,
}

impl Capabilities {
    /// Capabilities with these features and no limits.
    pub const fn new(features: Features) -> Self {
        Capabilities {
            features,
            limits: Limits {
                max_transaction_ops: None,
                max_bulk_batch: None,
                max_key_len: None,
                max_value_len: None,
            },
        }
    }

    /// Whether `feature` is offered.
    pub fn has(&self, feature: Feature) -> bool {
        self.features.contains(feature)
    }
}

impl fmt::Display for Capabilities {
    /// Dapr's feature names, then the limits that are set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.features.is_empty() {
            f.write_str("no optional features")?;
        } else {
            write!(f, "{}", self.features)?;
        }
        let l = &self.limits;
        let limits = [
            ("max transaction ops", l.max_transaction_ops),
            ("max bulk batch", l.max_bulk_batch),
            ("max key bytes", l.max_key_len),
            ("max value bytes", l.max_value_len),
        ];
        for (name, value) in limits {
            if let Some(v) = value {
                write!(f, "; {name} {v}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_dapr_names_in_order() {
        let f = Features::NONE
            .with(Feature::Ttl)
            .with(Feature::ETag)
            .with(Feature::KeysLike);
        assert_eq!(f.to_string(), "ETAG, TTL, KEYS_LIKE");
        assert_eq!(Features::ALL.iter().count(), 6);
        assert_eq!(
            Features::ALL.to_string(),
            "ETAG, TRANSACTIONAL, TTL, DELETE_WITH_PREFIX, KEYS_LIKE, QUERY_API"
        );
        assert_eq!(f.missing().iter().count(), 3);
    }

    #[test]
    fn parses_names() {
        assert_eq!("query_api".parse::<Feature>().unwrap(), Feature::QueryApi);
        assert!("ACTORS".parse::<Feature>().is_err());
    }

    #[test]
    fn display_with_limits() {
        let mut c = Capabilities::new(Features::of(Feature::Transactional));
        c.limits.max_transaction_ops = Some(100);
        assert_eq!(c.to_string(), "TRANSACTIONAL; max transaction ops 100");
        assert_eq!(Capabilities::default().to_string(), "no optional features");
    }
}
