//! The bookkeeping of one bulk read (`BulkGet`): checks, distinct keys,
//! making each row's 100-byte item and placing it, answering each request,
//! dropping the answers. Rows come in key order (SQLite, MariaDB,
//! MongoDB), in key order with a tenth of the keys absent, or out of key
//! order (PostgreSQL's storage order). docs/performance.md, "Rows out of
//! key order", reads it.
//!
//! `cargo bench -p statestore-core --bench bulk`

use std::hint::black_box;
use std::time::Instant;

use bytes::Bytes;
use statestore_core::bulk::BulkGet;
use statestore_core::capabilities::Limits;
use statestore_core::error::Operation;
use statestore_core::request::GetRequest;
use statestore_core::response::Item;

/// Nanoseconds per key of one call of `n` random keys out of 10,000,
/// median of 5 rounds of 1,000 calls.
fn per_key(n: usize, order: Rows, rng: &mut fastrand::Rng) -> u128 {
    let limits = Limits::default();
    let value = Bytes::from(vec![7u8; 100]);
    // Written over between calls, as the driver's and the server's work
    // would: more than the L1 and L2 caches, less than a large L3.
    let mut other = vec![0u8; 4 << 20];
    let mut rounds: Vec<u128> = (0..5)
        .map(|_| {
            let mut spent = 0;
            for call in 0..1_000u32 {
                let reqs: Vec<GetRequest> = (0..n)
                    .map(|_| GetRequest::new(format!("bench1a2b3c4d-{}", rng.u32(..10_000))))
                    .collect();
                let mut rows: Vec<Vec<u8>> = reqs.iter().map(|r| r.key.clone().into()).collect();
                rows.sort();
                rows.dedup();
                match order {
                    Rows::InOrder => {}
                    Rows::Gaps => rows.retain(|_| rng.u8(..10) != 0),
                    Rows::Shuffled => rng.shuffle(&mut rows),
                }
                for b in other.iter_mut().step_by(64) {
                    *b = b.wrapping_add(call as u8);
                }
                let start = Instant::now();
                let bulk = BulkGet::new(reqs, &limits);
                black_box(bulk.keys());
                let mut found = bulk.found();
                for r in &rows {
                    found.put(r, || Item::new(Bytes::copy_from_slice(&value)));
                }
                let items = found.into_items();
                drop(black_box(bulk.answer_found(
                    items,
                    "bench",
                    Operation::BulkGet,
                )));
                spent += start.elapsed().as_nanos();
            }
            spent / (1_000 * n as u128)
        })
        .collect();
    rounds.sort_unstable();
    rounds[2]
}

/// The order a backend hands the rows out in.
#[derive(Clone, Copy, Debug)]
enum Rows {
    InOrder,
    Gaps,
    Shuffled,
}

fn main() {
    let mut rng = fastrand::Rng::with_seed(17);
    for n in [100, 1_000] {
        for order in [Rows::InOrder, Rows::Gaps, Rows::Shuffled] {
            let ns = per_key(n, order, &mut rng);
            println!("bulk_get of {n:>5}, rows {order:<8?}: {ns:>4} ns per key");
        }
    }
}
