//! The connection a store holds between `init` and `close`, for stores that
//! keep one: [`Handle::get`] applies the lifecycle rule of docs/contract.md
//! (before init, and after close, every call fails as a whole with
//! `InvalidRequest`).

use std::sync::{Arc, RwLock};

use crate::Operation;
use crate::error::{Error, Result};

/// A connection of type `C`, or none yet, or none any more.
pub struct Handle<C> {
    conn: RwLock<Option<Arc<C>>>,
    opened: bool,
}

impl<C> Default for Handle<C> {
    fn default() -> Self {
        Handle {
            conn: RwLock::new(None),
            opened: false,
        }
    }
}

impl<C> Handle<C> {
    /// Keeps the connection `init` made.
    pub fn open(&mut self, conn: C) {
        *self.conn.get_mut().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(conn));
        self.opened = true;
    }

    /// Whether `init` succeeded once (the store may be closed since).
    pub fn opened(&self) -> bool {
        self.opened
    }

    /// The connection, if open.
    pub fn current(&self) -> Option<Arc<C>> {
        self.conn.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The connection for operation `op` of `store`, or the error that the
    /// store is not initialised or closed.
    pub fn get(&self, store: &'static str, op: Operation) -> Result<Arc<C>> {
        self.current().ok_or_else(|| {
            let why = if self.opened {
                "the store is closed"
            } else {
                "the store is not initialised: call init first"
            };
            Error::invalid(why).context(store, op)
        })
    }

    /// Gives the connection up, for `close` (none when already closed).
    pub fn close(&self) -> Option<Arc<C>> {
        self.conn.write().unwrap_or_else(|p| p.into_inner()).take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn before_init_and_after_close_calls_fail() {
        let mut h: Handle<u8> = Handle::default();
        let e = h.get("s", Operation::Get).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
        assert!(e.to_string().contains("not initialised"), "{e}");
        h.open(7);
        assert_eq!(*h.get("s", Operation::Get).unwrap(), 7);
        assert!(h.close().is_some() && h.close().is_none());
        let e = h.get("s", Operation::Get).unwrap_err();
        assert!(e.to_string().contains("closed") && h.opened(), "{e}");
    }
}
