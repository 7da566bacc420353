//! How features are named in `Features`, for both sides: Dapr's names for
//! what daprd can use, statestore's for the calls only its extension
//! service carries (docs/pluggable.md, *How the contract travels*).

use statestore_core::{Capabilities, Feature, Features};

use crate::proto::services;
use crate::{DELETE_WITH_PREFIX_FEATURE, KEY_PREFIX_FEATURE, KEYS_LIKE_FEATURE};

/// Each feature and its name on the socket.
const NAMES: [(Feature, &str); 6] = [
    (Feature::ETag, "ETAG"),
    (Feature::Transactional, "TRANSACTIONAL"),
    (Feature::Ttl, "TTL"),
    (Feature::QueryApi, "QUERY_API"),
    // Not Dapr's DELETE_WITH_PREFIX: daprd would look for a call its
    // protocol does not have.
    (Feature::DeleteWithPrefix, DELETE_WITH_PREFIX_FEATURE),
    (Feature::KeysLike, KEYS_LIKE_FEATURE),
];

/// Whether the feature's call is in statestore's extension service.
fn extended(f: Feature) -> bool {
    matches!(f, Feature::DeleteWithPrefix | Feature::KeysLike)
}

/// The server's `Features` answer for a store of `caps`.
pub(crate) fn names(caps: &Capabilities) -> Vec<String> {
    let mut names: Vec<String> = NAMES
        .into_iter()
        .filter(|(f, _)| caps.has(*f))
        .map(|(_, n)| n.to_owned())
        .collect();
    if caps.has(Feature::QueryApi) {
        names.push(KEY_PREFIX_FEATURE.to_owned());
    }
    names
}

/// What the client reads from a `Features` answer and the services the
/// socket lists: the features (an extended one only with the extension
/// service), and whether the query takes a key prefix.
pub(crate) fn read(names: &[String], listed: &[String]) -> (Features, bool) {
    let has = |name: &str| names.iter().any(|n| n == name);
    let extensions = listed.iter().any(|s| s == services::EXTENSIONS);
    let features = NAMES
        .into_iter()
        .filter(|(f, n)| has(n) && (extensions || !extended(*f)))
        .map(|(f, _)| f)
        .collect();
    (features, has(KEY_PREFIX_FEATURE))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server's names read back as the same features, and an extended
    /// feature needs the extension service.
    #[test]
    fn names_read_back() {
        let caps = Capabilities::new(Features::ALL);
        let listed = vec![services::STATE.to_owned(), services::EXTENSIONS.to_owned()];
        assert_eq!(read(&names(&caps), &listed), (Features::ALL, true));
        let (without, prefix) = read(&names(&caps), &listed[..1]);
        assert!(prefix && !without.contains(Feature::KeysLike), "{without}");
        assert!(without.contains(Feature::QueryApi));
        assert!(
            !names(&Capabilities::new(Features::ALL)).contains(&"DELETE_WITH_PREFIX".to_owned())
        );
    }
}
