//! Delete with prefix (docs/contract.md, *Bulk calls, transactions, prefixes*).

use statestore_core::{DeleteWithPrefixRequest, ErrorKind};

use crate::context::{Ctx, Outcome, fails, ok};
use crate::ensure;

/// Deletes exactly the direct children, returns the count, appends
/// `||` when missing, and refuses `""` and `"||"`.
pub async fn direct_children(cx: &Ctx) -> Outcome {
    let p = cx.key("actor");
    let children = [cx.key("actor||a"), cx.key("actor||b"), cx.key("actor||c|d")];
    let survivors = [
        cx.key("actor||nested||x"),
        cx.key("actor"),
        cx.key("actorx||a"),
        cx.key("actor|a"),
        cx.key("other||actor||a"),
    ];
    for k in children.iter().chain(&survivors) {
        cx.put(k, "v").await?;
    }
    let n = ok(
        cx.store
            .delete_with_prefix(DeleteWithPrefixRequest::new(&p))
            .await,
        format!("delete_with_prefix {p:?}"),
    )?;
    ensure!(
        n == 3,
        "delete_with_prefix {p:?}: expected 3 direct children deleted, got {n}"
    );
    for k in &children {
        cx.read_none(k, "a direct child of the deleted prefix")
            .await?;
    }
    for k in &survivors {
        cx.read_some(k)
            .await
            .map_err(|_| crate::fail(format!("delete_with_prefix {p:?} also deleted {k:?}")))?;
    }
    let nested = format!("{p}||nested||");
    let n = ok(
        cx.store
            .delete_with_prefix(DeleteWithPrefixRequest::new(&nested))
            .await,
        "delete_with_prefix ending in ||",
    )?;
    ensure!(n == 1, "delete_with_prefix {nested:?}: expected 1, got {n}");
    let n = ok(
        cx.store
            .delete_with_prefix(DeleteWithPrefixRequest::new(&p))
            .await,
        "delete_with_prefix again",
    )?;
    ensure!(
        n == 0,
        "delete_with_prefix {p:?} a second time: expected 0, got {n}"
    );
    for bad in ["", "||"] {
        fails(
            cx.store
                .delete_with_prefix(DeleteWithPrefixRequest::new(bad))
                .await,
            ErrorKind::InvalidRequest,
            format!("delete_with_prefix {bad:?}"),
        )?;
    }
    Ok(())
}
