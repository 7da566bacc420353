//! Table names come from component metadata and end up in SQL text, so they
//! are validated strictly (values are always bound, never formatted in).

use statestore_core::{Error, Result};

/// Checks a table name: letters, digits and `_`, not starting with a digit,
/// at most 63 characters; with `allow_schema`, optionally `schema.table`.
pub fn validate(name: &str, allow_schema: bool) -> Result<()> {
    let parts: Vec<&str> = name.split('.').collect();
    let ok = match parts.as_slice() {
        [table] => is_plain(table),
        [schema, table] if allow_schema => is_plain(schema) && is_plain(table),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        let shape = if allow_schema {
            "table or schema.table"
        } else {
            "table"
        };
        Err(Error::config(format!(
            "{name:?} is not a valid {shape} name: use letters, digits and _, not starting with a digit, at most 63 characters"
        )))
    }
}

fn is_plain(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 63
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names_and_refuses_injection() {
        for ok in ["state", "_t", "T1", "a_b_c"] {
            assert!(validate(ok, false).is_ok(), "{ok}");
        }
        assert!(validate("public.state", true).is_ok());
        for bad in [
            "",
            "1t",
            "a-b",
            "a b",
            "t\"",
            "t;DROP TABLE x",
            "a.b",
            "é",
            "`t`",
            &"x".repeat(64),
        ] {
            assert!(validate(bad, false).is_err(), "{bad}");
        }
        assert!(validate("a.b.c", true).is_err());
        assert!(validate(".t", true).is_err());
    }
}
