//! Component metadata: the `name = value` properties a store is initialised
//! with, matched case-insensitively (docs/components.md), and typed readers whose
//! errors name the store and the property.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::{Error, Result};

/// Properties every store accepts because they are handled above the store.
pub const BUILTIN_PROPERTIES: &[Property] = &[
    Property::new(
        "keyPrefix",
        "How keys are prefixed above the store: appid (default), name, namespace, none, or a custom prefix.",
    )
    .with_default("appid"),
    Property::new(
        "actorStateStore",
        "Use this store as the actor state store (needs ETAG and TRANSACTIONAL).",
    )
    .with_default("false"),
];

/// The description of one property a store understands. Stores declare them
/// once, as constants, and use them both to read values and to document them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Property {
    /// Dapr's name, e.g. `connectionString`.
    pub name: &'static str,
    /// Older names accepted for the same property.
    pub aliases: &'static [&'static str],
    /// One sentence for docs and `statestore list`.
    pub doc: &'static str,
    /// The value used when the property is absent.
    pub default: Option<&'static str>,
    /// Whether init fails without it.
    pub required: bool,
    /// Whether the value is a secret: never printed, never echoed in errors.
    pub secret: bool,
}

impl Property {
    /// The name of a property that stands for every name a store does not
    /// read itself but passes on, as `state.pluggable` passes them to its
    /// component's Init: none of them is unknown.
    pub const FORWARDED: &'static str = "*";

    /// An optional, non-secret property without default.
    pub const fn new(name: &'static str, doc: &'static str) -> Self {
        Property {
            name,
            aliases: &[],
            doc,
            default: None,
            required: false,
            secret: false,
        }
    }

    /// Sets the default value.
    pub const fn with_default(mut self, value: &'static str) -> Self {
        self.default = Some(value);
        self
    }

    /// Accepts older names for the same property.
    pub const fn with_aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    /// Marks the property required.
    pub const fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Marks the value secret.
    pub const fn secret(mut self) -> Self {
        self.secret = true;
        self
    }

    /// Whether `name` names this property (case-insensitively, aliases too).
    /// The name [`FORWARDED`](Self::FORWARDED) matches every name.
    pub fn matches(&self, name: &str) -> bool {
        self.name == Self::FORWARDED
            || self.name.eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

/// Whether a property name looks like it holds a secret, for redaction of
/// properties no store declared.
pub fn looks_secret(name: &str) -> bool {
    const WORDS: &[&str] = &[
        "password",
        "passwd",
        "secret",
        "token",
        "credential",
        "connectionstring",
        "apikey",
        "accesskey",
        "masterkey",
        "privatekey",
        "accountkey",
        "certificate",
        "sas",
    ];
    // `private_key`, `account-key`: separators do not hide a word.
    let lower: String = name
        .chars()
        .filter(|c| !matches!(c, '_' | '-' | '.'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    WORDS.iter().any(|w| lower.contains(w))
}

/// Component metadata: ordered `name = value` pairs with case-insensitive names.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Properties {
    entries: Vec<(String, String)>,
    /// Lower-cased names whose values came from a secret store: redacted
    /// like secret-looking names, whatever they are called.
    secrets: Vec<String>,
}

impl Properties {
    /// No properties.
    pub fn new() -> Self {
        Properties::default()
    }

    /// Adds or replaces a property (builder form).
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.insert(name, value);
        self
    }

    /// Adds a property, replacing one with the same name in any case.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        self.secrets.retain(|n| !n.eq_ignore_ascii_case(&name));
        match self
            .entries
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
        {
            Some(entry) => *entry = (name, value),
            None => self.entries.push((name, value)),
        }
    }

    /// Adds a property whose value is a secret (e.g. resolved from a
    /// `secretKeyRef`): `Debug` and the typed readers never show it.
    pub fn insert_secret(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        self.insert(name.clone(), value);
        self.secrets.push(name.to_ascii_lowercase());
    }

    /// Whether the value of `name` must not be shown: its name looks
    /// secret, or it was added with [`Properties::insert_secret`].
    pub fn is_secret(&self, name: &str) -> bool {
        looks_secret(name) || self.secrets.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    /// The non-empty values that must not be shown, for scrubbing messages
    /// built from them.
    pub fn secret_values(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .filter(|(n, v)| !v.is_empty() && self.is_secret(n))
            .map(|(_, v)| v.as_str())
    }

    /// The non-empty values that must not be shown, given the properties a
    /// store declares: [`Properties::secret_values`] and the values of
    /// properties declared secret, under any of their names.
    pub fn hidden_values<'a>(&'a self, declared: &[Property]) -> Vec<&'a str> {
        let declared = declared
            .iter()
            .filter(|d| d.secret)
            .flat_map(|d| std::iter::once(d.name).chain(d.aliases.iter().copied()))
            .filter_map(|n| self.get(n))
            .filter(|v| !v.is_empty());
        self.secret_values().chain(declared).collect()
    }

    /// Removes a property, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self
            .entries
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))?;
        Some(self.entries.remove(i).1)
    }

    /// The value of `name`, matched case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every `(name, value)` pair in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// How many properties there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Parses `name=value` (as given on a command line).
    pub fn parse_assignment(text: &str) -> Result<(String, String)> {
        match text.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_owned(), value.to_owned()))
            }
            _ => Err(Error::invalid(format!(
                "expected name=value, got {:?}",
                redact_assignment(text)
            ))),
        }
    }

    /// The names not described by `known` nor by [`BUILTIN_PROPERTIES`].
    pub fn unknown(&self, known: &[Property]) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(n, _)| !known.iter().chain(BUILTIN_PROPERTIES).any(|p| p.matches(n)))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// A typed reader whose errors name `store`.
    pub fn reader(&self, store: &'static str) -> Reader<'_> {
        Reader { props: self, store }
    }
}

fn redact_assignment(text: &str) -> String {
    match text.split_once('=') {
        Some((name, _)) if looks_secret(name) => format!("{name}=***"),
        _ if text.len() > 60 => format!("{}...", text.chars().take(60).collect::<String>()),
        _ => text.to_owned(),
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Properties {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut p = Properties::new();
        for (k, v) in iter {
            p.insert(k, v);
        }
        p
    }
}

impl fmt::Debug for Properties {
    /// Names with values, except values of secret-looking names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (n, v) in &self.entries {
            if self.is_secret(n) {
                m.entry(n, &"***");
            } else {
                m.entry(n, v);
            }
        }
        m.finish()
    }
}

/// Reads typed values of declared [`Property`]s; every error is a
/// [`crate::ErrorKind::Config`] error naming the store and the property, and
/// echoes the bad value only when the property is not secret.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    props: &'a Properties,
    store: &'static str,
}

impl<'a> Reader<'a> {
    /// The raw text: the given value (blank counts as absent) or the default.
    pub fn raw(&self, p: &Property) -> Option<&'a str> {
        let given = std::iter::once(p.name)
            .chain(p.aliases.iter().copied())
            .find_map(|n| self.props.get(n))
            .filter(|v| !v.trim().is_empty());
        given.or(p.default)
    }

    /// A Config error about `p`.
    pub fn error(&self, p: &Property, message: impl fmt::Display) -> Error {
        Error::config(format!("property {}: {message}", p.name))
            .context(self.store, crate::Operation::Init)
    }

    /// Whether the value of `p` must not be echoed: declared secret, or
    /// given from a secret store under any of its names.
    fn hidden(&self, p: &Property) -> bool {
        p.secret
            || std::iter::once(p.name)
                .chain(p.aliases.iter().copied())
                .any(|n| self.props.get(n).is_some() && self.props.is_secret(n))
    }

    /// The value quoted for a message, or `the value` when it is secret.
    fn shown(&self, p: &Property, value: &str) -> String {
        if self.hidden(p) {
            "the value".to_owned()
        } else {
            format!("{value:?}")
        }
    }

    fn bad_value(&self, p: &Property, value: &str, expected: &str) -> Error {
        if self.hidden(p) {
            self.error(p, format!("invalid value: expected {expected}"))
        } else {
            self.error(p, format!("invalid value {value:?}: expected {expected}"))
        }
    }

    /// The text, or `None` when absent without default. Required properties
    /// fail when absent.
    pub fn string(&self, p: &Property) -> Result<Option<String>> {
        match self.raw(p) {
            Some(v) => Ok(Some(v.to_owned())),
            None if p.required => Err(self.error(p, "is required")),
            None => Ok(None),
        }
    }

    /// The text of a property that must be there.
    pub fn require(&self, p: &Property) -> Result<String> {
        self.raw(p)
            .map(str::to_owned)
            .ok_or_else(|| self.error(p, "is required"))
    }

    /// The value parsed with `FromStr`; `expected` describes valid values.
    pub fn parse<T: FromStr>(&self, p: &Property, expected: &str) -> Result<Option<T>> {
        match self.string(p)? {
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.bad_value(p, &v, expected)),
            None => Ok(None),
        }
    }

    /// One of `options`, by name (without case or surrounding space), from
    /// the property's text or its default; an error lists the names.
    pub fn choice<T: Copy>(&self, p: &Property, options: &[(&str, T)]) -> Result<T> {
        let v = self.require(p)?;
        let found = options
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(v.trim()));
        found.map(|(_, t)| *t).ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
            let expected = match names.split_last() {
                Some((last, [])) => (*last).to_owned(),
                Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                None => "no value at all".to_owned(),
            };
            self.bad_value(p, &v, &expected)
        })
    }

    /// A boolean: `true/false`, `yes/no`, `on/off`, `1/0`, `y/n`, `t/f`;
    /// false when absent without default.
    pub fn bool(&self, p: &Property) -> Result<bool> {
        let Some(v) = self.string(p)? else {
            return Ok(false);
        };
        match v.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" | "y" | "t" => Ok(true),
            "false" | "no" | "off" | "0" | "n" | "f" => Ok(false),
            _ => Err(self.bad_value(p, &v, "true or false")),
        }
    }

    /// A non-negative duration: a Go duration (`500ms`, `2s`, `1h30m`) or an
    /// integer number of seconds, as Dapr reads them; at most
    /// [`MAX_DURATION`] (longer ones overflow clocks and timers).
    pub fn duration(&self, p: &Property) -> Result<Option<Duration>> {
        let Some(v) = self.string(p)? else {
            return Ok(None);
        };
        match parse_duration(&v) {
            Ok((true, _)) => Err(self.error(p, format!("{} is negative", self.shown(p, &v)))),
            Ok((false, d)) => self.at_most(p, &v, d).map(Some),
            Err(why) => Err(self.bad_value(p, &v, &why)),
        }
    }

    /// An interval where zero or a negative value means "off" (`None`); at
    /// most [`MAX_DURATION`].
    pub fn interval(&self, p: &Property) -> Result<Option<Duration>> {
        let Some(v) = self.string(p)? else {
            return Ok(None);
        };
        match parse_duration(&v) {
            Ok((true, _)) => Ok(None),
            Ok((false, d)) if d.is_zero() => Ok(None),
            Ok((false, d)) => self.at_most(p, &v, d).map(Some),
            Err(why) => Err(self.bad_value(p, &v, &why)),
        }
    }

    fn at_most(&self, p: &Property, v: &str, d: Duration) -> Result<Duration> {
        if d > MAX_DURATION {
            return Err(self.error(
                p,
                format!(
                    "{} is longer than the longest accepted duration, 10 years",
                    self.shown(p, v)
                ),
            ));
        }
        Ok(d)
    }
}

/// The longest duration a property may hold: 10 years.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Parses a Go duration (`300ms`, `1.5h`, `2h45m`, `-1s`) or an integer
/// number of seconds. Returns whether it is negative, and its size.
pub fn parse_duration(text: &str) -> std::result::Result<(bool, Duration), String> {
    const EXPECTED: &str = "a duration such as 500ms, 2s, 1m or 1h30m, or a number of seconds";
    let s = text.trim();
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if s.is_empty() {
        return Err(EXPECTED.into());
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let secs: u64 = s.parse().map_err(|_| EXPECTED.to_owned())?;
        return Ok((negative && secs > 0, Duration::from_secs(secs)));
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len].parse().map_err(|_| EXPECTED.to_owned())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per_unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(EXPECTED.into()),
        };
        rest = &rest[unit_len..];
        total += number * nanos_per_unit;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(EXPECTED.into());
    }
    Ok((negative && total > 0.0, Duration::from_nanos(total as u64)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    const TABLE: Property = Property::new("tableName", "table").with_default("state");
    const CONN: Property = Property::new("connectionString", "conn")
        .required()
        .secret();
    const TIMEOUT: Property = Property::new("timeout", "t")
        .with_default("20s")
        .with_aliases(&["timeoutInSeconds"]);
    const WAL: Property = Property::new("disableWAL", "w");

    #[test]
    fn names_are_case_insensitive_and_defaults_apply() {
        let p = Properties::new().with("TABLENAME", "t1");
        let r = p.reader("state.test");
        assert_eq!(r.string(&TABLE).unwrap().as_deref(), Some("t1"));
        assert_eq!(
            Properties::new()
                .reader("s")
                .string(&TABLE)
                .unwrap()
                .as_deref(),
            Some("state")
        );
        let p = Properties::new().with("timeoutInSeconds", "5");
        assert_eq!(
            p.reader("s").duration(&TIMEOUT).unwrap(),
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn missing_required_names_store_and_property() {
        let e = Properties::new()
            .reader("state.test")
            .require(&CONN)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config);
        assert_eq!(
            e.to_string(),
            "state.test: init: configuration error: property connectionString: is required"
        );
    }

    #[test]
    fn choices_match_without_case_and_list_the_names() {
        const MODE: Property = Property::new("mode", "m").with_default("fast");
        let options = [("fast", 1), ("safe", 2), ("both", 3)];
        let read = |v: Option<&str>| {
            let mut p = Properties::new();
            if let Some(v) = v {
                p.insert("mode", v);
            }
            p.reader("s").choice(&MODE, &options)
        };
        assert_eq!(read(None).unwrap(), 1);
        assert_eq!(read(Some(" SAFE ")).unwrap(), 2);
        let e = read(Some("slow")).unwrap_err().to_string();
        assert!(e.contains("mode") && e.contains("\"slow\""), "{e}");
        assert!(e.contains("expected fast, safe or both"), "{e}");
    }

    #[test]
    fn bad_values_are_named_and_secrets_not_echoed() {
        let p = Properties::new().with("disableWAL", "maybe");
        let e = p.reader("s").bool(&WAL).unwrap_err();
        assert!(e.to_string().contains("disableWAL"), "{e}");
        assert!(e.to_string().contains("maybe"), "{e}");

        const SECRET_NUM: Property = Property::new("redisPassword", "p").secret();
        let p = Properties::new().with("redisPassword", "hunter2");
        let e = p
            .reader("s")
            .parse::<u32>(&SECRET_NUM, "a number")
            .unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn debug_redacts_secrets() {
        let p = Properties::new()
            .with("connectionString", "postgres://u:pw@h/db")
            .with("tableName", "t");
        let text = format!("{p:?}");
        assert!(!text.contains("pw@"), "{text}");
        assert!(text.contains("\"t\""), "{text}");
    }

    #[test]
    fn unknown_properties_exclude_declared_and_builtin() {
        let p = Properties::new()
            .with("TableName", "x")
            .with("keyPrefix", "none")
            .with("timeoutInSeconds", "1")
            .with("bogus", "1");
        assert_eq!(p.unknown(&[TABLE, TIMEOUT]), vec!["bogus".to_owned()]);
    }

    #[test]
    fn durations() {
        let ok = |s: &str| parse_duration(s).unwrap();
        assert_eq!(ok("2s"), (false, Duration::from_secs(2)));
        assert_eq!(ok("500ms"), (false, Duration::from_millis(500)));
        assert_eq!(ok("1h30m"), (false, Duration::from_secs(5400)));
        assert_eq!(ok("1.5s"), (false, Duration::from_millis(1500)));
        assert_eq!(ok("30"), (false, Duration::from_secs(30)));
        assert_eq!(ok("0"), (false, Duration::ZERO));
        assert_eq!(ok("-1"), (true, Duration::from_secs(1)));
        assert_eq!(ok("-1h"), (true, Duration::from_secs(3600)));
        for bad in ["", "s", "1x", "abc", "1..2s", "--1s", "1e400s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_are_capped() {
        const T: Property = Property::new("timeout", "t");
        let e = Properties::new()
            .with("timeout", "18446744073709551615")
            .reader("s")
            .duration(&T)
            .unwrap_err();
        assert!(
            e.to_string().contains("timeout") && e.to_string().contains("10 years"),
            "{e}"
        );
        let e = Properties::new()
            .with("timeout", "100000h")
            .reader("s")
            .interval(&T);
        assert!(e.is_err());
        assert!(
            Properties::new()
                .with("timeout", "87600h")
                .reader("s")
                .duration(&T)
                .is_ok()
        );
    }

    #[test]
    fn intervals_turn_off_at_zero_or_below() {
        const CLEAN: Property = Property::new("cleanupInterval", "c").with_default("1h");
        let read = |v: &str| {
            Properties::new()
                .with("cleanupInterval", v)
                .reader("s")
                .interval(&CLEAN)
        };
        assert_eq!(read("0").unwrap(), None);
        assert_eq!(read("-1").unwrap(), None);
        assert_eq!(read("10m").unwrap(), Some(Duration::from_secs(600)));
        assert!(read("soon").is_err());
    }

    #[test]
    fn assignments() {
        assert_eq!(
            Properties::parse_assignment("a=b=c").unwrap(),
            ("a".into(), "b=c".into())
        );
        let e = Properties::parse_assignment("=x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    }
}
