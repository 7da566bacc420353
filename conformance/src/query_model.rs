//! Model-based testing of the query API (docs/conformance.md, *Model-based
//! testing*): seeded random JSON documents and a random query run against
//! the store under test and against the in-memory reference store; every
//! page of results must agree. A failing case is shrunk (fewer documents,
//! a smaller filter, fewer sort keys) and printed with the seed that
//! reproduces it.
//!
//! Documents mix kinds at every path, nest objects, and use member names
//! and keys with dots, quotes and brackets, where stores translating the
//! query into their own language go wrong.

use std::fmt;

use serde_json::{Map, Value, json};
use statestore_core::memory::MemoryStore;
use statestore_core::query::{Order, Page, Sort};
use statestore_core::{Filter, Properties, Query, QueryRequest, SetRequest, Store};

use crate::context::{Ctx, Outcome, fail, skip};

/// Documents per case.
const DOCS: usize = 10;
/// Reruns the shrinker may spend on one failure.
const SHRINK_BUDGET: usize = 300;
/// Paths queries use. `a.b` and `d.o` address nested members, never the
/// member named `d.o`, which some documents also have.
const PATHS: &[&str] = &[
    "a", "b", "a.b", "n.x", "n.y", "d.o", "q\"t", "br[0]", "o'k", "sp ace", "none",
];
/// Member names of documents (`n` and `d` hold objects).
const NAMES: &[&str] = &["a", "b", "n", "d", "d.o", "q\"t", "br[0]", "o'k", "sp ace"];

/// One case: documents by key, and a query (its filter is scoped to the
/// case when it runs).
#[derive(Clone)]
struct Case {
    docs: Vec<(String, Value)>,
    filter: Option<Filter>,
    sort: Vec<Sort>,
    limit: Option<u32>,
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in &self.docs {
            writeln!(f, "  {k:?}: {v}")?;
        }
        writeln!(f, "  filter: {:?}", self.filter)?;
        writeln!(f, "  sort: {:?}", self.sort)?;
        write!(f, "  limit: {:?}", self.limit)
    }
}

/// What the generator may use.
struct Gen {
    /// Arrays and objects as values, and queries on paths that hold them
    /// (left out where the store documents its own order for them).
    containers: bool,
}

impl Gen {
    fn scalar(&self, rng: &mut fastrand::Rng) -> Value {
        match rng.u8(..8) {
            0 => Value::Null,
            1 => Value::Bool(rng.bool()),
            2 | 3 => json!(rng.i64(-2..=3)),
            4 => json!([0.5, -1.5, 2.0, 1e3][rng.usize(..4)]),
            _ => json!(["", "a", "A", "a ", "b", "é", "10", "2", "O'k", "q\"t"][rng.usize(..10)]),
        }
    }

    fn value(&self, rng: &mut fastrand::Rng) -> Value {
        if !self.containers || rng.u8(..6) > 0 {
            return self.scalar(rng);
        }
        match rng.u8(..4) {
            0 => json!([]),
            1 => json!([1]),
            2 => json!([1, "a"]),
            _ => json!({"x": 1}),
        }
    }

    fn doc(&self, rng: &mut fastrand::Rng) -> Value {
        let mut doc = Map::new();
        for name in NAMES {
            if rng.bool() {
                continue;
            }
            let v = match *name {
                "n" if rng.u8(..4) > 0 => {
                    json!({"x": self.value(rng), "y": self.value(rng)})
                }
                "d" | "a" if rng.bool() => json!({"o": self.value(rng), "b": self.value(rng)}),
                _ => self.value(rng),
            };
            doc.insert((*name).to_owned(), v);
        }
        Value::Object(doc)
    }

    /// A path for a filter or a sort key. Without containers, not `a`,
    /// which may hold an object.
    fn path(&self, rng: &mut fastrand::Rng) -> String {
        loop {
            let p = PATHS[rng.usize(..PATHS.len())];
            if self.containers || p != "a" {
                return p.to_owned();
            }
        }
    }

    fn filter(&self, rng: &mut fastrand::Rng, depth: u8) -> Filter {
        if depth < 2 && rng.u8(..4) == 0 {
            let children = (0..rng.usize(2..=3))
                .map(|_| self.filter(rng, depth + 1))
                .collect();
            return if rng.bool() {
                Filter::And(children)
            } else {
                Filter::Or(children)
            };
        }
        // Operands are scalars: the contract refuses arrays and objects.
        let p = self.path(rng);
        let v = self.scalar(rng);
        match rng.u8(..7) {
            0 => Filter::Eq(p, v),
            1 => Filter::Neq(p, v),
            2 => Filter::Gt(p, v),
            3 => Filter::Gte(p, v),
            4 => Filter::Lt(p, v),
            5 => Filter::Lte(p, v),
            _ => Filter::In(p, (0..rng.usize(1..=3)).map(|_| self.scalar(rng)).collect()),
        }
    }

    fn case(&self, seed: u64) -> Case {
        let mut rng = fastrand::Rng::with_seed(seed);
        let docs = (0..DOCS)
            .map(|i| {
                // Keys with quotes and brackets, in no particular order.
                let key = match i % 4 {
                    0 => format!("k{}", rng.u8(..100)),
                    1 => format!("k'{i}"),
                    2 => format!("k\"{i}]"),
                    _ => format!("k{i}"),
                };
                (key, self.doc(&mut rng))
            })
            .collect::<Vec<_>>();
        let mut docs = docs;
        docs.sort_by(|a, b| a.0.cmp(&b.0));
        docs.dedup_by(|a, b| a.0 == b.0);
        let filter = rng.bool().then(|| self.filter(&mut rng, 0));
        let sort = (0..rng.usize(..=2))
            .map(|_| Sort {
                key: self.path(&mut rng),
                order: if rng.bool() { Order::Asc } else { Order::Desc },
            })
            .collect();
        let limit = rng.bool().then(|| rng.u32(1..=4));
        Case {
            docs,
            filter,
            sort,
            limit,
        }
    }
}

/// Each page of a query's results: key and value text.
type Pages = Vec<Vec<(String, String)>>;

/// Writes the case's documents under `prefix` with its `suite` and runs its
/// query page by page; keys come back without the prefix.
async fn pages(store: &dyn Store, prefix: &str, case: &Case) -> Result<Pages, String> {
    for (k, doc) in &case.docs {
        let mut doc = doc.clone();
        doc["suite"] = Value::String(prefix.to_owned());
        let req = SetRequest::json(format!("{prefix}{k}"), &doc).map_err(|e| e.to_string())?;
        store
            .set(req)
            .await
            .map_err(|e| format!("set {k:?}: {e:#}"))?;
    }
    let scope = Filter::Eq("suite".into(), Value::String(prefix.to_owned()));
    let filter = match &case.filter {
        None => scope,
        Some(f) => Filter::And(vec![scope, f.clone()]),
    };
    let mut out = Vec::new();
    let mut token = None;
    for _ in 0..=case.docs.len() + 1 {
        let query = Query {
            filter: Some(filter.clone()),
            sort: case.sort.clone(),
            page: Page {
                limit: case.limit,
                token: token.take(),
            },
        };
        let r = match store.query(QueryRequest::new(query)).await {
            Ok(r) => r,
            // Both sides must fail alike: the kind is what counts.
            Err(e) => {
                out.push(vec![("error".into(), format!("{:?}", e.kind()))]);
                return Ok(out);
            }
        };
        out.push(
            r.results
                .into_iter()
                .map(|i| {
                    let key = i.key.strip_prefix(prefix).unwrap_or(&i.key).to_owned();
                    (key, String::from_utf8_lossy(&i.value).into_owned())
                })
                .collect(),
        );
        match r.token {
            Some(t) => token = Some(t),
            None => return Ok(out),
        }
    }
    // More pages than documents: paging repeats results. A result like
    // any other, so the case shrinks and shows it.
    out.push(vec![("error".into(), "more pages than documents".into())]);
    Ok(out)
}

/// Runs a case on both sides; `Some((expected, got))` when they differ.
async fn replay(cx: &Ctx, ns: &str, case: &Case) -> Result<Option<(Pages, Pages)>, String> {
    let mut reference = MemoryStore::new();
    reference
        .init(&Properties::new())
        .await
        .map_err(|e| format!("the reference store failed to start: {e}"))?;
    let expected = pages(&reference, "", case).await?;
    // The reference's documents carry an empty suite; the store's its
    // prefix, which is stripped from the values before comparing.
    let prefix = cx.key(ns);
    // Registered, so the run removes them at its end.
    for (k, _) in &case.docs {
        cx.key(&format!("{ns}{k}"));
    }
    let got = pages(cx.store.as_ref(), &prefix, case).await?;
    let unscoped = |pages: Pages, suite: &str| -> Pages {
        let from = format!("\"suite\":{}", Value::String(suite.to_owned()));
        pages
            .into_iter()
            .map(|p| {
                p.into_iter()
                    .map(|(k, v)| (k, v.replace(&from, "\"suite\":\"\"")))
                    .collect()
            })
            .collect()
    };
    let got = unscoped(got, &prefix);
    Ok((expected != got).then_some((expected, got)))
}

/// Smaller versions of a case: one document fewer, a filter replaced by a
/// child or dropped, a sort key fewer, no limit.
fn smaller(case: &Case) -> Vec<Case> {
    let mut out = Vec::new();
    for i in 0..case.docs.len() {
        let mut c = case.clone();
        c.docs.remove(i);
        out.push(c);
    }
    if let Some(f) = &case.filter {
        out.push(Case {
            filter: None,
            ..case.clone()
        });
        if let Filter::And(children) | Filter::Or(children) = f {
            for child in children {
                out.push(Case {
                    filter: Some(child.clone()),
                    ..case.clone()
                });
            }
        }
    }
    for i in 0..case.sort.len() {
        let mut c = case.clone();
        c.sort.remove(i);
        out.push(c);
    }
    if case.limit.is_some() {
        out.push(Case {
            limit: None,
            ..case.clone()
        });
    }
    out
}

async fn shrink(cx: &Ctx, tag: &str, mut case: Case) -> (Case, usize) {
    let mut runs = 0;
    'outer: while runs < SHRINK_BUDGET {
        for candidate in smaller(&case) {
            runs += 1;
            let ns = format!("{tag}s{runs}-");
            if matches!(replay(cx, &ns, &candidate).await, Ok(Some(_))) {
                case = candidate;
                continue 'outer;
            }
            if runs >= SHRINK_BUDGET {
                break;
            }
        }
        break;
    }
    (case, runs)
}

/// Random queries over random documents agree with the in-memory
/// reference store, page by page.
pub async fn random_queries(cx: &Ctx) -> Outcome {
    let settings = &cx.target.settings;
    if settings.model_sequences == 0 {
        return skip("the run asks for 0 random sequences (and so 0 random queries)");
    }
    let generator = Gen {
        containers: !cx.target.quirks.native_container_order,
    };
    let base = cx.target.seed;
    for i in 0..settings.model_sequences as u64 {
        let seed = base.wrapping_add(i);
        let case = generator.case(seed);
        let tag = format!("q{seed:x}-");
        match replay(cx, &tag, &case).await {
            Err(e) => return Err(fail(e)),
            Ok(None) => continue,
            Ok(Some(_)) => {}
        }
        let (shrunk, runs) = shrink(cx, &tag, case).await;
        let diverged = replay(cx, &format!("{tag}final-"), &shrunk).await;
        let Ok(Some((expected, got))) = diverged else {
            return Err(fail(format!(
                "a random query diverged from the in-memory reference store with seed \
                 0x{seed:x}, but not again after shrinking (is the store flaky?); rerun with \
                 STATESTORE_SEED=0x{seed:x} STATESTORE_MODEL_SEQUENCES=1"
            )));
        };
        return Err(fail(format!(
            "a random query diverged from the in-memory reference store; seed 0x{seed:x} \
             (rerun with STATESTORE_SEED=0x{seed:x} STATESTORE_MODEL_SEQUENCES=1), shrunk in \
             {runs} reruns to:\n{shrunk}\nexpected pages {expected:?}\ngot pages {got:?}"
        )));
    }
    Ok(())
}
