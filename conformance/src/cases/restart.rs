//! Resilience (docs/conformance.md, *Restarts*): the backend stops and starts under a
//! running store instance. Runs only when the store declares how, through
//! [`Quirks::restart`](crate::Quirks), and alone: no other case runs while
//! the backend is down.

use std::future::Future;
use std::time::{Duration, Instant};

use statestore_core::{ErrorKind, GetRequest, SetRequest};

use crate::context::{Ctx, Outcome, fail, skip};
use crate::{Hook, Restart, ensure, show};

/// Acknowledged writes made before the restart.
const WRITES: usize = 20;

/// While the backend is down, calls fail with `Unavailable` or
/// `Timeout` in bounded time and ping fails; after it is back, the same
/// instance works again without a new init, and a durable backend still
/// holds every acknowledged write.
pub async fn restart(cx: &Ctx) -> Outcome {
    let Some(hooks) = cx.target.quirks.restart.clone() else {
        return skip(format!(
            "{} declares no restart hooks (quirk restart)",
            cx.name()
        ));
    };
    let mut acknowledged = Vec::new();
    for i in 0..WRITES {
        let (key, value) = (cx.key(&format!("ack{i}")), format!("before restart {i}"));
        cx.put(&key, value.clone()).await?;
        acknowledged.push((key, value));
    }
    // Whatever happens from here on, start the backend again before
    // judging: later cases need it.
    let down = match hook(&hooks, hooks.stop.clone(), "stop").await {
        Ok(()) => while_down(cx, &hooks, &acknowledged[0].0).await,
        Err(e) => Err(e),
    };
    let started = hook(&hooks, hooks.start.clone(), "start").await;
    down?;
    started?;
    let recovered = recover(cx, &hooks, &acknowledged[0].0).await?;
    let mut found = 0;
    for (key, value) in &acknowledged {
        let item = within(&hooks, &format!("get {key:?}"), cx.read(key)).await??;
        let kept = item.as_ref().map(|i| &i.value[..]) == Some(value.as_bytes());
        found += usize::from(kept);
        ensure!(
            kept || !hooks.durable,
            "acknowledged write {key:?} = {} before the restart; afterwards: {} \
             ({found} of {WRITES} found so far)",
            show(value.as_bytes()),
            item.map_or("no value".into(), |i| show(&i.value))
        );
    }
    let after = cx.key("after");
    within(
        &hooks,
        "set after the restart",
        cx.put(&after, "after restart"),
    )
    .await??;
    within(
        &hooks,
        "get after the restart",
        cx.read_eq(&after, b"after restart"),
    )
    .await??;
    eprintln!(
        "{}: resilience::restart: {WRITES} writes acknowledged, {found} found after the \
         restart; the same instance worked again {recovered:?} after start",
        cx.name(),
    );
    Ok(())
}

/// Runs a hook for at most `recover_within`; one that overruns is dropped
/// (a shell hook's command is killed) before anything else runs.
async fn hook(hooks: &Restart, f: Hook, what: &str) -> Outcome {
    let limit = hooks.recover_within;
    match tokio::time::timeout(limit, f()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(fail(format!("the restart hook's {what} failed: {e:#}"))),
        Err(_) => Err(fail(format!(
            "the restart hook's {what} did not return within {limit:?} (recover_within); \
             it was stopped"
        ))),
    }
}

/// Every call fails with `Unavailable` or `Timeout` within the bound.
async fn while_down(cx: &Ctx, hooks: &Restart, key: &str) -> Outcome {
    let bound = hooks.fail_within;
    let store = &cx.store;
    bounded(bound, "ping", store.ping()).await?;
    bounded(
        bound,
        &format!("get {key:?}"),
        store.get(GetRequest::new(key)),
    )
    .await?;
    let set = store.set(SetRequest::new(key, "while down"));
    bounded(bound, &format!("set {key:?}"), set).await
}

/// `call`, failing the case if it takes longer than `fail_within`: the
/// case holds every other case back, so nothing in it may hang.
async fn within<T>(
    hooks: &Restart,
    what: &str,
    call: impl Future<Output = T>,
) -> Result<T, crate::Failure> {
    tokio::time::timeout(hooks.fail_within, call)
        .await
        .map_err(|_| fail(format!("{what}: no answer within {:?}", hooks.fail_within)))
}

async fn bounded<T>(
    bound: Duration,
    what: &str,
    call: impl Future<Output = statestore_core::Result<T>>,
) -> Outcome {
    let started = Instant::now();
    // A little slack over the bound, so a call that fails right at it is
    // told apart from one that hangs.
    let slack = bound.saturating_add(bound / 10);
    match tokio::time::timeout(slack, call).await {
        Err(_) => Err(fail(format!(
            "{what} while the backend is down: no answer within {bound:?} (it must fail, not hang)"
        ))),
        Ok(Ok(_)) => Err(fail(format!(
            "{what} while the backend is down: expected Unavailable or Timeout, got success"
        ))),
        Ok(Err(e)) if matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout) => {
            ensure!(
                started.elapsed() <= slack,
                "{what} while the backend is down took {:?}, over {bound:?}",
                started.elapsed()
            );
            Ok(())
        }
        Ok(Err(e)) => Err(fail(format!(
            "{what} while the backend is down: expected Unavailable or Timeout, got {:?}: {e:#}",
            e.kind()
        ))),
    }
}

/// Polls until a read works on the same instance; returns how long it took.
async fn recover(cx: &Ctx, hooks: &Restart, key: &str) -> Result<Duration, crate::Failure> {
    let started = Instant::now();
    loop {
        let read = tokio::time::timeout(hooks.fail_within, cx.store.get(GetRequest::new(key)));
        let last = match read.await {
            Ok(Ok(_)) => return Ok(started.elapsed()),
            Ok(Err(e)) => format!("{e:#}"),
            Err(_) => format!("get {key:?} did not answer within {:?}", hooks.fail_within),
        };
        if started.elapsed() > hooks.recover_within {
            return Err(fail(format!(
                "the store did not work again within {:?} after the backend restarted \
                 (no new init); last error: {last}",
                hooks.recover_within
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
