//! Typed configuration of `state.aws.dynamodb`, read from Dapr's property
//! names (plus three of this SDK's own: `createTable`, `allowTableScans`,
//! `operationTimeout`).

use std::fmt;
use std::time::Duration;

use statestore_core::properties::Reader;
use statestore_core::{Properties, Property, Result};

use crate::NAME;
use crate::layout::{CONTENT_TYPE, ETAG, VALUE};

/// `table` (required).
pub const TABLE: Property =
    Property::new("table", "Name of the DynamoDB table holding the state.").required();
/// `region`.
pub const REGION: Property = Property::new(
    "region",
    "AWS region; the default chain's (AWS_REGION, the profile) when left out.",
);
/// `endpoint`.
pub const ENDPOINT: Property = Property::new(
    "endpoint",
    "URL of a DynamoDB-compatible endpoint (local development); AWS's when left out.",
);
/// `accessKey` (secret).
pub const ACCESS_KEY: Property = Property::new(
    "accessKey",
    "Access key ID, with secretKey; the default AWS credential chain when left out.",
)
.secret();
/// `secretKey` (secret).
pub const SECRET_KEY: Property =
    Property::new("secretKey", "Secret access key of accessKey.").secret();
/// `sessionToken` (secret).
pub const SESSION_TOKEN: Property = Property::new(
    "sessionToken",
    "Session token of temporary credentials, with accessKey and secretKey.",
)
.secret();
/// `ttlAttributeName`.
pub const TTL_ATTRIBUTE: Property = Property::new(
    "ttlAttributeName",
    "Attribute holding the expiry (epoch seconds); TTL is offered only when set.",
);
/// `partitionKey`, default `key`.
pub const PARTITION_KEY: Property = Property::new(
    "partitionKey",
    "Name of the table's hash-key attribute (type S), which holds the state key.",
)
.with_default("key");
/// `createTable`, default false.
pub const CREATE_TABLE: Property = Property::new(
    "createTable",
    "true creates the table (on-demand capacity) and enables TTL on ttlAttributeName at init, for development.",
)
.with_default("false");
/// `allowTableScans`, default false.
pub const ALLOW_TABLE_SCANS: Property = Property::new(
    "allowTableScans",
    "true offers keys-like and delete-with-prefix, each a scan of the whole table.",
)
.with_default("false");
/// `operationTimeout`, default 5s.
pub const OPERATION_TIMEOUT: Property = Property::new(
    "operationTimeout",
    "Upper bound of every operation, the SDK's own retries included.",
)
.with_default("5s");

/// Every property of `state.aws.dynamodb`.
pub const PROPERTIES: &[Property] = &[
    TABLE,
    REGION,
    ENDPOINT,
    ACCESS_KEY,
    SECRET_KEY,
    SESSION_TOKEN,
    TTL_ATTRIBUTE,
    PARTITION_KEY,
    CREATE_TABLE,
    ALLOW_TABLE_SCANS,
    OPERATION_TIMEOUT,
];

/// Static credentials given as properties.
#[derive(Clone)]
pub struct Keys {
    /// The access key ID.
    pub access_key: String,
    /// The secret access key.
    pub secret_key: String,
    /// The session token of temporary credentials.
    pub session_token: Option<String>,
}

/// The settings of one store.
#[derive(Clone)]
pub struct Config {
    /// The table.
    pub table: String,
    /// The region, when given.
    pub region: Option<String>,
    /// The endpoint URL, when given.
    pub endpoint: Option<String>,
    /// Static credentials; `None` uses the default credential chain.
    pub keys: Option<Keys>,
    /// The TTL attribute; `None` offers no TTL.
    pub ttl_attribute: Option<String>,
    /// The hash-key attribute.
    pub partition_key: String,
    /// Whether init creates the table.
    pub create_table: bool,
    /// Whether keys-like and delete-with-prefix scan the table.
    pub allow_scans: bool,
    /// The bound of every operation.
    pub timeout: Duration,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("table", &self.table)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("keys", &self.keys.as_ref().map(|_| "***"))
            .field("ttl_attribute", &self.ttl_attribute)
            .field("partition_key", &self.partition_key)
            .field("create_table", &self.create_table)
            .field("allow_scans", &self.allow_scans)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Config {
    /// Reads and checks the properties; every error names the property and
    /// never echoes a secret.
    pub fn from_properties(properties: &Properties) -> Result<Config> {
        let r = properties.reader(NAME);
        let table = r.require(&TABLE)?;
        let ok_name = table
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !(3..=255).contains(&table.len()) || !ok_name {
            return Err(r.error(
                &TABLE,
                format!(
                    "invalid table name {table:?}: 3 to 255 of a-z, A-Z, 0-9, '_', '-' and '.'"
                ),
            ));
        }
        let region = r
            .string(&REGION)?
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        let endpoint = r.string(&ENDPOINT)?.map(|s| s.trim().to_owned());
        if let Some(e) = &endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            return Err(r.error(
                &ENDPOINT,
                format!("{e:?} is not a URL: expected http:// or https://"),
            ));
        }
        let keys = keys(&r)?;
        let partition_key = r.require(&PARTITION_KEY)?;
        attribute_name(&r, &PARTITION_KEY, &partition_key)?;
        let ttl_attribute = r.string(&TTL_ATTRIBUTE)?;
        if let Some(ttl) = &ttl_attribute {
            attribute_name(&r, &TTL_ATTRIBUTE, ttl)?;
            if *ttl == partition_key {
                return Err(r.error(&TTL_ATTRIBUTE, "must differ from partitionKey"));
            }
        }
        let timeout = r
            .duration(&OPERATION_TIMEOUT)?
            .unwrap_or(Duration::from_secs(5));
        if timeout.is_zero() {
            return Err(r.error(&OPERATION_TIMEOUT, "must be positive"));
        }
        Ok(Config {
            table,
            region,
            endpoint,
            keys,
            ttl_attribute,
            partition_key,
            create_table: r.bool(&CREATE_TABLE)?,
            allow_scans: r.bool(&ALLOW_TABLE_SCANS)?,
            timeout,
        })
    }
}

/// Static keys: both of accessKey and secretKey, or neither.
fn keys(r: &Reader<'_>) -> Result<Option<Keys>> {
    let access = r.string(&ACCESS_KEY)?.filter(|s| !s.is_empty());
    let secret = r.string(&SECRET_KEY)?.filter(|s| !s.is_empty());
    let token = r.string(&SESSION_TOKEN)?.filter(|s| !s.is_empty());
    match (access, secret) {
        (Some(access_key), Some(secret_key)) => Ok(Some(Keys {
            access_key,
            secret_key,
            session_token: token,
        })),
        (None, None) if token.is_some() => Err(r.error(
            &SESSION_TOKEN,
            "is given without accessKey and secretKey, which it belongs to",
        )),
        (None, None) => Ok(None),
        (Some(_), None) => Err(r.error(&SECRET_KEY, "is missing: accessKey needs it")),
        (None, Some(_)) => Err(r.error(&ACCESS_KEY, "is missing: secretKey needs it")),
    }
}

/// An attribute name of the layout: non-empty, and none of the layout's own.
fn attribute_name(r: &Reader<'_>, p: &Property, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 255 {
        return Err(r.error(p, "must be 1 to 255 bytes long"));
    }
    if [VALUE, ETAG, CONTENT_TYPE].contains(&name) {
        return Err(r.error(
            p,
            format!("{name:?} is an attribute of the layout (value, etag, contentType)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use statestore_core::ErrorKind;

    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Properties {
        pairs
            .iter()
            .fold(Properties::new(), |p, (k, v)| p.with(*k, *v))
    }

    #[test]
    fn defaults() {
        let c = Config::from_properties(&props(&[("table", "state")])).unwrap();
        assert_eq!(c.partition_key, "key");
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert!(c.keys.is_none() && c.ttl_attribute.is_none());
        assert!(!c.create_table && !c.allow_scans);
    }

    #[test]
    fn bad_properties_are_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[], "table"),
            (&[("table", "a b")], "table"),
            (
                &[("table", "tab"), ("endpoint", "localhost:8000")],
                "endpoint",
            ),
            (&[("table", "tab"), ("accessKey", "AK")], "secretKey"),
            (&[("table", "tab"), ("secretKey", "SECRET")], "accessKey"),
            (
                &[("table", "tab"), ("sessionToken", "TOKEN")],
                "sessionToken",
            ),
            (
                &[("table", "tab"), ("partitionKey", "etag")],
                "partitionKey",
            ),
            (
                &[("table", "tab"), ("ttlAttributeName", "key")],
                "ttlAttributeName",
            ),
            (
                &[("table", "tab"), ("ttlAttributeName", "value")],
                "ttlAttributeName",
            ),
            (&[("table", "tab"), ("createTable", "maybe")], "createTable"),
            (
                &[("table", "tab"), ("operationTimeout", "0s")],
                "operationTimeout",
            ),
        ];
        for (pairs, named) in cases {
            let e = Config::from_properties(&props(pairs)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{pairs:?}");
            assert!(e.to_string().contains(named), "{pairs:?}: {e}");
            assert!(!e.to_string().contains("SECRET"), "{e}");
        }
    }

    #[test]
    fn debug_hides_the_keys() {
        let c = Config::from_properties(&props(&[
            ("table", "tab"),
            ("accessKey", "AKIDEXAMPLE"),
            ("secretKey", "wJalrXUtnFEMI"),
            ("sessionToken", "TOKEN123"),
        ]))
        .unwrap();
        let shown = format!("{c:?}");
        for secret in ["AKIDEXAMPLE", "wJalrXUtnFEMI", "TOKEN123"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
