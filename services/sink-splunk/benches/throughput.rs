//! Throughput of the Splunk sink: ~1 KB realistic enriched decisions in a fresh four-partition
//! topic, the stock Kafka consumer performance tool on it, then the `docket-sink-splunk` binary
//! until every offset is committed; prints records/s, MB/s, the ratio and peak RSS.
//!
//! The receiver is the local stack's OpenTelemetry Collector (its HEC receiver, which converts
//! every event to OTLP JSON in a file and is the slower side on a small machine), or, with
//! `DOCKET_BENCH_RECEIVER=discard`, a minimal HEC endpoint inside this benchmark that reads each
//! gzip body, counts its events and answers code 0, so the sink's own rate shows.
//!
//! `dev/stack up && eval "$(dev/stack env)" && cargo bench -p docket-sink-splunk --bench throughput`
//! (`DOCKET_BENCH_RECORDS` sets the count, default 1,000,000; `DOCKET_SPLUNK_URL` another
//! receiver).

#![allow(missing_docs)]

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() {
    let discard = std::env::var("DOCKET_BENCH_RECEIVER").is_ok_and(|r| r == "discard");
    let bench = docket_bench::SinkBench::new("splunk").await;
    let events = Arc::new(AtomicU64::new(0));
    let url = if discard {
        discard_receiver(events.clone()).await
    } else {
        std::env::var("DOCKET_SPLUNK_URL")
            .or_else(|_| std::env::var("DOCKET_OTELCOL_HEC_URL"))
            .unwrap_or_else(|_| "http://127.0.0.1:18088".to_owned())
    };
    let group = bench.group("sink");
    let mut command = bench.command(env!("CARGO_BIN_EXE_docket-sink-splunk"), &group);
    command
        .env("DOCKET_SPLUNK_URL", &url)
        .env("DOCKET_SPLUNK_TOKEN", "bench");
    let name = if discard {
        "sink-splunk (discarding HEC)"
    } else {
        "sink-splunk (collector HEC)"
    };
    bench.measure(name, command, &group).await;
    if discard {
        println!(
            "events counted by the receiver: {}",
            events.load(Ordering::Relaxed)
        );
    }
}

/// A HEC endpoint on loopback that gunzips each body, counts its events and answers code 0;
/// returns its base URL.
async fn discard_receiver(events: Arc<AtomicU64>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let events = events.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| answer(events.clone(), req));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    url
}

async fn answer(
    events: Arc<AtomicU64>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let body = req.into_body().collect().await?.to_bytes();
    let mut raw = Vec::new();
    if flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut raw)
        .is_ok()
    {
        let n = serde_json::Deserializer::from_slice(&raw)
            .into_iter::<serde::de::IgnoredAny>()
            .take_while(Result::is_ok)
            .count();
        events.fetch_add(n as u64, Ordering::Relaxed);
    }
    let answer = if body.is_empty() {
        r#"{"text":"No data","code":5}"#
    } else {
        r#"{"text":"Success","code":0}"#
    };
    Ok(Response::new(Full::new(Bytes::from_static(
        answer.as_bytes(),
    ))))
}
