//! SQL LIKE patterns (docs/contract.md, *Bulk calls, transactions,
//! prefixes*: `%` any run, `_` one character, `\` escapes the next).
//!
//! Matching is case-sensitive and works on Unicode characters, as SQL LIKE
//! does under a binary collation. Stores whose backend matches differently
//! translate the parsed pattern (SQLite uses GLOB, see [`LikePattern::to_glob`]).

use crate::error::{Error, Result};

/// `text` as a pattern matching exactly itself (`%`, `_` and `\` escaped).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// One element of a parsed pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LikeToken {
    /// This exact character.
    Char(char),
    /// `_`: exactly one character.
    One,
    /// `%`: any run of characters, including none.
    Any,
}

/// A parsed LIKE pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LikePattern {
    source: String,
    tokens: Vec<LikeToken>,
}

impl LikePattern {
    /// Parses a pattern. An empty pattern and a pattern ending in a lone `\`
    /// are invalid requests.
    pub fn parse(pattern: &str) -> Result<Self> {
        if pattern.is_empty() {
            return Err(Error::invalid(
                "the pattern is empty: use \"%\" to list every key",
            ));
        }
        let mut tokens = Vec::with_capacity(pattern.len());
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '%' => LikeToken::Any,
                '_' => LikeToken::One,
                '\\' => match chars.next() {
                    Some(escaped) => LikeToken::Char(escaped),
                    None => {
                        return Err(Error::invalid(format!(
                            "the pattern {pattern:?} ends with a lone escape character \\"
                        )));
                    }
                },
                c => LikeToken::Char(c),
            });
        }
        Ok(LikePattern {
            source: pattern.to_owned(),
            tokens,
        })
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The parsed tokens.
    pub fn tokens(&self) -> &[LikeToken] {
        &self.tokens
    }

    /// The literal characters before the first wildcard (for range scans).
    pub fn literal_prefix(&self) -> String {
        self.tokens
            .iter()
            .map_while(|t| match t {
                LikeToken::Char(c) => Some(*c),
                _ => None,
            })
            .collect()
    }

    /// Whether `text` matches, case-sensitively.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().collect();
        let p = &self.tokens;
        let (mut ti, mut pi) = (0, 0);
        // Where to resume after the last `%`: (pattern index after it, text index).
        let mut resume: Option<(usize, usize)> = None;
        while ti < text.len() {
            match p.get(pi) {
                Some(LikeToken::Any) => {
                    resume = Some((pi + 1, ti));
                    pi += 1;
                }
                Some(LikeToken::One) => {
                    pi += 1;
                    ti += 1;
                }
                Some(LikeToken::Char(c)) if *c == text[ti] => {
                    pi += 1;
                    ti += 1;
                }
                _ => match resume {
                    Some((rp, rt)) => {
                        pi = rp;
                        ti = rt + 1;
                        resume = Some((rp, rt + 1));
                    }
                    None => return false,
                },
            }
        }
        p[pi..].iter().all(|t| *t == LikeToken::Any)
    }

    /// The same pattern as an SQLite GLOB (case-sensitive, unlike SQLite's LIKE):
    /// `%` becomes `*`, `_` becomes `?`, and GLOB's own special characters
    /// are put in brackets.
    pub fn to_glob(&self) -> String {
        let mut out = String::with_capacity(self.source.len() + 8);
        for t in &self.tokens {
            match t {
                LikeToken::Any => out.push('*'),
                LikeToken::One => out.push('?'),
                LikeToken::Char(c @ ('*' | '?' | '[')) => {
                    out.push('[');
                    out.push(*c);
                    out.push(']');
                }
                LikeToken::Char(c) => out.push(*c),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, t: &str) -> bool {
        LikePattern::parse(p).unwrap().matches(t)
    }

    #[test]
    fn wildcards() {
        assert!(m("%", ""));
        assert!(m("%", "anything"));
        assert!(m("a%", "abc"));
        assert!(!m("a%", "bac"));
        assert!(m("%c", "abc"));
        assert!(m("a_c", "abc"));
        assert!(!m("a_c", "ac"));
        assert!(!m("a_c", "abbc"));
        assert!(m("a%b%c", "a-b-b-c"));
        assert!(!m("a%b%c", "a-c-b"));
        assert!(m("%a%a%", "xaxxa"));
        assert!(m("__", "éü"));
        assert!(!m("abc", "ABC"), "case-sensitive");
    }

    #[test]
    fn escapes() {
        assert!(m(r"100\%", "100%"));
        assert!(!m(r"100\%", "1000"));
        assert!(m(r"a\_b", "a_b"));
        assert!(!m(r"a\_b", "axb"));
        assert!(m(r"a\\b", r"a\b"));
        assert!(LikePattern::parse(r"abc\").is_err());
        assert!(LikePattern::parse("").is_err());
    }

    #[test]
    fn glob_translation() {
        let g = |p: &str| LikePattern::parse(p).unwrap().to_glob();
        assert_eq!(g("a%_b"), "a*?b");
        assert_eq!(g("a*b?[c]"), "a[*]b[?][[]c]");
        assert_eq!(g(r"x\%"), "x%");
    }

    #[test]
    fn literal_prefix() {
        assert_eq!(
            LikePattern::parse(r"ab\%c%d").unwrap().literal_prefix(),
            "ab%c"
        );
        assert_eq!(LikePattern::parse("%x").unwrap().literal_prefix(), "");
    }
}
