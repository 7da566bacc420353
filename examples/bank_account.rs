//! A bank account as an actor: each turn reads and stages through the actor
//! state API and commits as ONE transaction, on whichever store the
//! manifest flags `actorStateStore: "true"`. The same code runs on every
//! store that has ETAG and TRANSACTIONAL; only the manifest changes:
//!
//! ```sh
//! cargo run -p statestore-examples --example bank_account       # SQLite: examples/components/bank/
//! cargo run -p statestore-examples --example bank_account -- examples/components/bank-redis/
//! cargo run -p statestore-examples --example bank_account -- examples/components/bank-postgres/
//! ```
//!
//! The SQLite database is `bank_account.db` in the directory you run from.
//! Every run uses an account of its own and removes it at the end, so reruns
//! (and runs side by side) start clean. See docs/actors.md.

use std::error::Error;
use std::process::ExitCode;
use std::time::Instant;

use statestore::{ActorState, ActorStateStore, ErrorKind};

const APP_ID: &str = "bank";
const ACTOR_TYPE: &str = "Account";
const BALANCE: &str = "balance";
const OPERATIONS: &str = "operations";
/// Concurrent activations of one account, each making this many deposits.
const TASKS: i64 = 8;
const DEPOSITS: i64 = 25;
/// A turn that keeps losing races gives up after this many retries.
const MAX_RETRIES: u32 = 1000;

#[derive(Debug, Clone, Copy)]
enum Op {
    Deposit(i64),
    Withdraw(i64),
}

#[derive(Debug)]
enum Outcome {
    Done { balance: i64, retries: u32 },
    Refused { balance: i64 },
}

/// One turn of the account: read, decide, stage, commit as one transaction.
/// A commit that fails with ETagMismatch applied nothing and dropped the
/// cache, so running the turn again reads the newer state.
async fn turn(account: &mut ActorState, op: Op) -> statestore::Result<Outcome> {
    let mut retries = 0;
    loop {
        let balance: i64 = account.get_json(BALANCE).await?.unwrap_or(0);
        let operations: u64 = account.get_json(OPERATIONS).await?.unwrap_or(0);
        let balance = match op {
            Op::Deposit(amount) => balance + amount,
            // Nothing staged, nothing written. The balance may come from the
            // cache of an earlier turn: right as long as this activation is
            // the account's only writer (Dapr's single activation).
            Op::Withdraw(amount) if amount > balance => return Ok(Outcome::Refused { balance }),
            Op::Withdraw(amount) => balance - amount,
        };
        account.set_json(BALANCE, &balance)?;
        account.set_json(OPERATIONS, &(operations + 1))?;
        match account.commit().await {
            Ok(()) => return Ok(Outcome::Done { balance, retries }),
            Err(e) if e.kind() == ErrorKind::ETagMismatch && retries < MAX_RETRIES => retries += 1,
            Err(e) => return Err(e),
        }
    }
}

fn done(outcome: Outcome) -> Result<i64, Box<dyn Error>> {
    match outcome {
        Outcome::Done { balance, .. } => Ok(balance),
        other => Err(format!("expected the turn to succeed, got {other:?}").into()),
    }
}

async fn run(actors: &ActorStateStore, id: &str) -> Result<(), Box<dyn Error>> {
    // 1. One activation of the account; its keys are Dapr's actor keys.
    let mut account = actors.actor(ACTOR_TYPE, id)?;
    println!(
        "1. account {ACTOR_TYPE}/{id}: state stored as {}",
        account.stored_key(BALANCE)?
    );

    // 2. Turns: each one transaction over `balance` and `operations`.
    let b = done(turn(&mut account, Op::Deposit(100)).await?)?;
    println!("2. deposit 100: balance {b}");
    let b = done(turn(&mut account, Op::Withdraw(30)).await?)?;
    println!("   withdraw 30: balance {b}");
    match turn(&mut account, Op::Withdraw(500)).await? {
        Outcome::Refused { balance } => {
            println!("   withdraw 500: refused, the balance is only {balance}")
        }
        other => return Err(format!("an overdraft went through: {other:?}").into()),
    }

    // 3. A turn reads its own staged writes; discard drops them.
    account.set_json(BALANCE, &1_000_000)?;
    let staged: i64 = account.get_json(BALANCE).await?.unwrap_or(0);
    account.discard();
    let kept: i64 = account.get_json(BALANCE).await?.unwrap_or(0);
    println!("3. staged {staged}, read it back, discarded it: balance {kept}");

    // 4. Several activations deposit at once (what Dapr's single activation
    // prevents, and optimistic concurrency survives): a commit that lost a
    // race is retried, and no deposit is lost.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 1..=TASKS {
        let (actors, id) = (actors.clone(), id.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut activation = actors.actor(ACTOR_TYPE, &id)?;
            let mut retries = 0;
            for _ in 0..DEPOSITS {
                if let Outcome::Done { retries: r, .. } =
                    turn(&mut activation, Op::Deposit(task)).await?
                {
                    retries += r;
                }
            }
            Ok::<u32, statestore::Error>(retries)
        }));
    }
    let mut retries = Vec::new();
    for t in tasks {
        retries.push(t.await??);
    }
    println!(
        "4. {TASKS} tasks deposited 1..={TASKS}, {DEPOSITS} times each: {} turns in {:.0?}",
        TASKS * DEPOSITS,
        started.elapsed()
    );
    println!(
        "   turns retried after ETagMismatch, per task: {retries:?} ({} in all)",
        retries.iter().sum::<u32>()
    );

    // 5. A fresh activation reads what the store holds.
    let mut fresh = actors.actor(ACTOR_TYPE, id)?;
    let balance: i64 = fresh.get_json(BALANCE).await?.unwrap_or(0);
    let operations: i64 = fresh.get_json(OPERATIONS).await?.unwrap_or(0);
    let want_balance = 70 + DEPOSITS * TASKS * (TASKS + 1) / 2;
    let want_operations = 2 + TASKS * DEPOSITS;
    println!(
        "5. final balance {balance} (expected {want_balance}), {operations} operations (expected {want_operations})"
    );
    if (balance, operations) != (want_balance, want_operations) {
        return Err("the final balance is wrong: an update was lost".into());
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    match bank().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn bank() -> Result<(), Box<dyn Error>> {
    let manifest = std::env::args()
        .nth(1)
        .unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/components/bank/").to_owned());
    let runtime = statestore::runtime(APP_ID)?.load(&manifest).await?;
    println!("loaded {manifest} for app {APP_ID:?}");
    for name in runtime.names() {
        let (type_name, version) = runtime.store_type(name)?;
        println!("   component {name:?}: {type_name} {version}");
    }
    for note in runtime.notes() {
        println!("   note: {note}");
    }
    let actors = runtime.actors()?;
    println!(
        "   actor state store: {}",
        actors.store().capabilities().features
    );

    // An account of this run's own, removed whatever happens.
    let id = format!("alice-{}", std::process::id());
    let result = run(actors, &id).await;
    let removed = actors.remove_all(ACTOR_TYPE, &id).await;
    runtime.close().await?;
    result?;
    println!("6. removed the account ({} keys)", removed?);
    Ok(())
}
