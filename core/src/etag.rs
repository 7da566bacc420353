//! [`ETag`], held inline when short.
//!
//! Every item a read returns carries an etag, and every store's etags fit
//! in [`INLINE`] bytes except MongoDB's (a 36-character UUID); keeping them
//! inline saves an allocation and a free per item of a bulk read
//! (docs/performance.md, "Every store against its raw driver").

use std::cmp::Ordering;
use std::fmt::{self, Write};
use std::hash::{Hash, Hasher};

/// Bytes of text held without an allocation.
const INLINE: usize = 22;

/// An opaque version token chosen by the store. An empty etag is the same as
/// no etag.
#[derive(Clone)]
pub struct ETag(Repr);

#[derive(Clone)]
enum Repr {
    /// `len` bytes of UTF-8 text at the start of the array.
    Inline(u8, [u8; INLINE]),
    Heap(Box<str>),
}

impl ETag {
    /// Wraps a string the store (or a user repeating it) produced.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        if value.len() <= INLINE {
            ETag::from(value.as_str())
        } else {
            ETag(Repr::Heap(value.into_boxed_str()))
        }
    }

    /// Formats an etag without a `String` in between, e.g.
    /// `ETag::format(format_args!("{n:016x}"))`.
    pub fn format(args: fmt::Arguments<'_>) -> Self {
        let mut w = Writer::default();
        // The writer never fails; a failing Display impl leaves the text
        // written so far, as `to_string` would not (it panics).
        let _ = w.write_fmt(args);
        w.finish()
    }

    /// The etag's text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // Only whole UTF-8 strings are ever stored inline.
            Repr::Inline(len, buf) => std::str::from_utf8(&buf[..usize::from(*len)]).unwrap_or(""),
            Repr::Heap(s) => s,
        }
    }

    /// True for the empty etag, which means "no etag".
    pub fn is_empty(&self) -> bool {
        self.as_str().is_empty()
    }

    /// The etag's text, owned.
    pub fn into_string(self) -> String {
        match self.0 {
            Repr::Heap(s) => s.into_string(),
            Repr::Inline(..) => self.as_str().to_owned(),
        }
    }
}

/// Collects formatted text inline, moving to the heap when it grows past
/// [`INLINE`].
#[derive(Default)]
struct Writer {
    len: usize,
    buf: [u8; INLINE],
    heap: Option<String>,
}

impl Writer {
    fn finish(self) -> ETag {
        match self.heap {
            Some(s) => ETag(Repr::Heap(s.into_boxed_str())),
            None => ETag(Repr::Inline(self.len as u8, self.buf)),
        }
    }
}

impl Write for Writer {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let Some(heap) = &mut self.heap {
            heap.push_str(s);
        } else if self.len + s.len() <= INLINE {
            self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
        } else {
            // Whole strings only went in, so the prefix is valid UTF-8.
            let mut heap = String::from(std::str::from_utf8(&self.buf[..self.len]).unwrap_or(""));
            heap.push_str(s);
            self.heap = Some(heap);
        }
        Ok(())
    }
}

impl Default for ETag {
    fn default() -> Self {
        ETag(Repr::Inline(0, [0; INLINE]))
    }
}

impl PartialEq for ETag {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for ETag {}

impl PartialOrd for ETag {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ETag {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl Hash for ETag {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ETag({:?})", self.as_str())
    }
}

impl From<String> for ETag {
    fn from(value: String) -> Self {
        ETag::new(value)
    }
}

impl From<&str> for ETag {
    fn from(value: &str) -> Self {
        if value.len() <= INLINE {
            let mut buf = [0; INLINE];
            buf[..value.len()].copy_from_slice(value.as_bytes());
            ETag(Repr::Inline(value.len() as u8, buf))
        } else {
            ETag(Repr::Heap(value.into()))
        }
    }
}

impl From<&ETag> for ETag {
    fn from(value: &ETag) -> Self {
        value.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_texts_read_back_and_compare_by_text() {
        let long = "x".repeat(INLINE + 1);
        let edge = "é".repeat(INLINE / 2);
        for text in ["", "0", "0123456789abcdef", edge.as_str(), long.as_str()] {
            let made = [
                ETag::new(text),
                ETag::from(text),
                ETag::format(format_args!("{text}")),
                ETag::format(format_args!("{}{}", text, "")),
            ];
            for e in &made {
                assert_eq!(e.as_str(), text);
                assert_eq!(e.clone().into_string(), text);
                assert_eq!(e, &made[0]);
                assert_eq!(e.is_empty(), text.is_empty());
            }
        }
        assert!(matches!(ETag::from("0123456789abcdef").0, Repr::Inline(..)));
        assert!(matches!(ETag::from(long.as_str()).0, Repr::Heap(_)));
        assert_eq!(ETag::default(), ETag::from(""));
        assert!(ETag::from("a") < ETag::from(long.as_str()));
    }

    #[test]
    fn formatted_text_moves_to_the_heap_past_the_inline_size() {
        let e = ETag::format(format_args!("{:020}{:020}", 1, 2));
        assert_eq!(e.as_str(), format!("{:020}{:020}", 1, 2));
        assert!(matches!(e.0, Repr::Heap(_)));
        assert_eq!(
            ETag::format(format_args!("{:016x}", u64::MAX)).as_str(),
            "ffffffffffffffff"
        );
    }
}
