//! The floor `statestore serve` is measured against (docs/performance.md):
//! the same HTTP stack (axum, HTTP/1) answering `GET
//! /v1.0/state/{store}/{key}` with fixed bytes and an `ETag`, doing no other
//! work. `scripts/bench-serve.sh` runs wrk against both in one run.
//!
//! Usage: `http_baseline <port> <etag> <body>`; prints `listening on
//! http://127.0.0.1:<port>` once bound (port 0 picks a free one).

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(port), Some(etag), Some(body)) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: http_baseline <port> <etag> <body>");
        std::process::exit(2);
    };
    let port: u16 = port.parse().expect("a port number");
    let etag = HeaderValue::from_str(&etag).expect("an etag fit for a header");
    let body = axum::body::Bytes::from(body);
    let app = Router::new().route(
        "/v1.0/state/{store}/{key}",
        get(move || {
            let (etag, body) = (etag.clone(), body.clone());
            async move { (StatusCode::OK, [(header::ETAG, etag)], body).into_response() }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("a free port");
    println!(
        "listening on http://{}",
        listener.local_addr().expect("bound")
    );
    // Served as `statestore serve` serves, graceful shutdown included.
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .expect("the server runs");
}
