//! A protocol-exact fake of Splunk's HTTP Event Collector for the Splunk sink's ack and fault
//! tests, written from Splunk's HEC documentation ("HTTP Event Collector REST API endpoints",
//! "Format events for HTTP Event Collector", "About HTTP Event Collector Indexer
//! Acknowledgment", "Troubleshoot HTTP Event Collector" status codes), on a real loopback
//! socket. The collector in the local stack checks content; this server does what it cannot:
//! token checks, indexer acknowledgement on a channel, and scripted faults.
//!
//! What it implements:
//! - `GET /services/collector/health`: 200 `{"text":"HEC is healthy","code":17}`.
//! - `POST /services/collector/event`: `Authorization: Splunk <token>` (missing: 401 code 2;
//!   wrong: 403 code 4), gzip or plain body of concatenated JSON events (none: 400 code 5; one
//!   without `event`: 400 code 12 with `invalid-event-number`); with acks on, a
//!   `X-Splunk-Request-Channel` GUID is required (missing: 400 code 10) and the answer carries
//!   an `ackId` counted per channel from 0.
//! - `POST /services/collector/ack` with `{"acks":[ids]}`: `{"acks":{"id":bool}}`.
//!
//! A refused request stores none of its events (Splunk may index the events before the
//! invalid one; the sink resends them either way, so tests compare sets of event ids).

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// A scripted answer to the next event request that carries a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 503 `{"text":"Server is busy","code":9}`.
    Busy,
    /// 429 with `Retry-After` in seconds.
    Throttled(u64),
    /// Answer only after this long (the events are stored first).
    Slow(Duration),
    /// Read the request, then close the connection without an answer.
    Drop,
    /// Accept, but the ack id of this request never turns true.
    LoseAck,
}

/// The fake's state, shared with the test.
#[derive(Default)]
struct State {
    token: String,
    ack: bool,
    acks_held: bool,
    refuse_event_id: Option<String>,
    faults: VecDeque<Fault>,
    events: Vec<Value>,
    event_requests: usize,
    plain_batches: usize,
    next_ack: HashMap<String, u64>,
    lost: Vec<(String, u64)>,
}

/// A running fake HEC.
#[derive(Clone)]
pub struct FakeHec {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FakeHec {
    /// Starts a fake accepting `token`, with indexer acknowledgement when `ack`.
    pub async fn start(token: &str, ack: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(State {
            token: token.to_owned(),
            ack,
            ..State::default()
        }));
        let shared = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(state.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, state }
    }

    /// Its base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers the next event requests with these faults, in order.
    pub fn script(&self, faults: &[Fault]) {
        self.state
            .lock()
            .unwrap()
            .faults
            .extend(faults.iter().cloned());
    }

    /// Refuses (code 6) any request holding the event with this `event_id`.
    pub fn refuse_event(&self, event_id: &str) {
        self.state.lock().unwrap().refuse_event_id = Some(event_id.to_owned());
    }

    /// While held, every ack id stays false.
    pub fn hold_acks(&self, held: bool) {
        self.state.lock().unwrap().acks_held = held;
    }

    /// Every event stored so far.
    pub fn events(&self) -> Vec<Value> {
        self.state.lock().unwrap().events.clone()
    }

    /// The `event_id` indexed field of every stored event.
    pub fn event_ids(&self) -> Vec<String> {
        self.events()
            .iter()
            .filter_map(|e| e["fields"]["event_id"].as_str().map(str::to_owned))
            .collect()
    }

    /// Event requests received (answered or not).
    pub fn event_requests(&self) -> usize {
        self.state.lock().unwrap().event_requests
    }

    /// Event requests whose events came plain, without `Content-Encoding: gzip`.
    pub fn plain_batches(&self) -> usize {
        self.state.lock().unwrap().plain_batches
    }
}

type Answer = Result<Response<Full<Bytes>>, std::io::Error>;

async fn handle(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Answer {
    match req.uri().path() {
        "/services/collector/health" => Ok(reply(
            StatusCode::OK,
            json!({"text": "HEC is healthy", "code": 17}),
        )),
        "/services/collector/event" | "/services/collector" => event(state, req).await,
        "/services/collector/ack" => ack(state, req).await,
        _ => Ok(reply(
            StatusCode::NOT_FOUND,
            json!({"text": "The requested URL was not found on this server.", "code": 404}),
        )),
    }
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

/// The token check of both endpoints; `Some` is the refusal.
fn refuse_token(state: &State, req: &Request<Incoming>) -> Option<Response<Full<Bytes>>> {
    let Some(auth) = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    else {
        return Some(reply(
            StatusCode::UNAUTHORIZED,
            json!({"text": "Token is required", "code": 2}),
        ));
    };
    match auth.strip_prefix("Splunk ") {
        Some(t) if t == state.token => None,
        Some(_) => Some(reply(
            StatusCode::FORBIDDEN,
            json!({"text": "Invalid token", "code": 4}),
        )),
        None => Some(reply(
            StatusCode::UNAUTHORIZED,
            json!({"text": "Invalid authorization", "code": 3}),
        )),
    }
}

fn channel(req: &Request<Incoming>) -> Option<String> {
    req.headers()
        .get("x-splunk-request-channel")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn event(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Answer {
    let gzip = req
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes() == b"gzip");
    let channel = channel(&req);
    let refusal = refuse_token(&state.lock().unwrap(), &req);
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    if let Some(r) = refusal {
        return Ok(r);
    }
    let (fault, answer) = {
        let mut s = state.lock().unwrap();
        s.event_requests += 1;
        s.plain_batches += usize::from(!gzip && !body.is_empty());
        // The sink's start-up token check is an empty request: faults are for batches.
        let fault = if body.is_empty() {
            None
        } else {
            s.faults.pop_front()
        };
        (fault.clone(), accept(&mut s, &body, gzip, channel, fault))
    };
    match fault {
        Some(Fault::Drop) => Err(std::io::Error::other("connection dropped on purpose")),
        Some(Fault::Slow(d)) => {
            tokio::time::sleep(d).await;
            Ok(answer)
        }
        _ => Ok(answer),
    }
}

/// The answer to an event request, storing its events when it is accepted.
fn accept(
    s: &mut State,
    body: &[u8],
    gzip: bool,
    channel: Option<String>,
    fault: Option<Fault>,
) -> Response<Full<Bytes>> {
    match fault {
        Some(Fault::Busy) => {
            return reply(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"text": "Server is busy", "code": 9}),
            );
        }
        Some(Fault::Throttled(secs)) => {
            let mut r = reply(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"text": "Too many requests", "code": 9}),
            );
            r.headers_mut()
                .insert("retry-after", secs.to_string().parse().unwrap());
            return r;
        }
        Some(Fault::Drop) => return reply(StatusCode::OK, json!({})),
        _ => {}
    }
    if s.ack && channel.is_none() {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"text": "Data channel is missing", "code": 10}),
        );
    }
    let events = match parse(body, gzip) {
        Ok(events) if events.is_empty() => {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"text": "No data", "code": 5}),
            );
        }
        Ok(events) => events,
        Err(n) => {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"text": "Event field is required", "code": 12, "invalid-event-number": n}),
            );
        }
    };
    if let Some(bad) = &s.refuse_event_id
        && let Some(n) = events
            .iter()
            .position(|e| e["fields"]["event_id"] == bad.as_str())
    {
        return reply(
            StatusCode::BAD_REQUEST,
            json!({"text": "Invalid data format", "code": 6, "invalid-event-number": n}),
        );
    }
    s.events.extend(events);
    if !s.ack {
        return reply(StatusCode::OK, json!({"text": "Success", "code": 0}));
    }
    let channel = channel.unwrap_or_default();
    let next = s.next_ack.entry(channel.clone()).or_insert(0);
    let id = *next;
    *next += 1;
    if fault == Some(Fault::LoseAck) {
        s.lost.push((channel, id));
    }
    reply(
        StatusCode::OK,
        json!({"text": "Success", "code": 0, "ackId": id}),
    )
}

/// The concatenated events of a body; `Err(n)` names the first event without `event`.
fn parse(body: &[u8], gzip: bool) -> Result<Vec<Value>, usize> {
    let mut raw = Vec::new();
    if gzip {
        flate2::read::GzDecoder::new(body)
            .read_to_end(&mut raw)
            .map_err(|_| 0usize)?;
    } else {
        raw = body.to_vec();
    }
    let mut events = Vec::new();
    for (n, v) in serde_json::Deserializer::from_slice(&raw)
        .into_iter::<Value>()
        .enumerate()
    {
        match v {
            Ok(v) if v.get("event").is_some() => events.push(v),
            _ => return Err(n),
        }
    }
    Ok(events)
}

async fn ack(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Answer {
    let channel = channel(&req);
    let refusal = refuse_token(&state.lock().unwrap(), &req);
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    if let Some(r) = refusal {
        return Ok(r);
    }
    let s = state.lock().unwrap();
    if !s.ack {
        return Ok(reply(
            StatusCode::BAD_REQUEST,
            json!({"text": "ACK is disabled", "code": 14}),
        ));
    }
    let Some(channel) = channel else {
        return Ok(reply(
            StatusCode::BAD_REQUEST,
            json!({"text": "Data channel is missing", "code": 10}),
        ));
    };
    let asked: Value = serde_json::from_slice(&body).unwrap_or_default();
    let issued = s.next_ack.get(&channel).copied().unwrap_or(0);
    let acks: serde_json::Map<String, Value> = asked["acks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .map(|id| {
            let lost = s.lost.contains(&(channel.clone(), id));
            (id.to_string(), json!(id < issued && !lost && !s.acks_held))
        })
        .collect();
    Ok(reply(StatusCode::OK, json!({ "acks": acks })))
}
