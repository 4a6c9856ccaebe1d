//! Indexer acknowledgement: after HEC accepted a batch with an ack id, ask
//! `POST /services/collector/ack` on the same channel until the indexer says the id is true,
//! with a growing wait between questions. When the configured timeout passes first, the batch
//! is sent again (a possible duplicate at the indexer, which `event_id` deduplicates). Only a
//! confirmed batch is reported accepted, so only confirmed offsets are committed.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use docket_delivery::SendError;
use docket_sink_http::{Secret, body_prefix, status_error, transport_error};
use prometheus::{Histogram, HistogramOpts, IntGauge, Opts, Registry};
use reqwest::header::AUTHORIZATION;
use reqwest::{Client, Url};
use serde::Deserialize;

use crate::config::AckConfig;
use crate::send::{Answer, CHANNEL, HOP, MAX_ANSWER};

/// The ack endpoint, relative to the base URL.
pub const ACK_PATH: &str = "/services/collector/ack";
/// Longest wait between two questions.
const MAX_POLL: Duration = Duration::from_secs(2);

/// Ack latency and pending acks.
#[derive(Clone)]
pub struct AckMetrics {
    /// Seconds from HEC's acceptance to the indexer's confirmation.
    pub latency: Histogram,
    /// Batches accepted by HEC and not yet confirmed.
    pub pending: IntGauge,
}

impl AckMetrics {
    /// The metrics, registered in `registry`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let buckets = prometheus::exponential_buckets(0.05, 2.0, 14)?;
        let latency = Histogram::with_opts(
            HistogramOpts::new(
                "docket_sink_splunk_ack_latency_seconds",
                "HEC acceptance to indexer acknowledgement",
            )
            .buckets(buckets),
        )?;
        let pending = IntGauge::with_opts(Opts::new(
            "docket_sink_splunk_pending_acks",
            "Batches accepted by HEC awaiting indexer acknowledgement",
        ))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pending.clone()))?;
        Ok(Self { latency, pending })
    }
}

/// Asks the indexer about ack ids on one channel.
pub struct Acks {
    client: Client,
    url: Url,
    token: Secret,
    channel: String,
    config: AckConfig,
    metrics: AckMetrics,
}

#[derive(Deserialize)]
struct Status {
    acks: HashMap<String, bool>,
}

/// Counts a batch as pending while it lives.
struct Pending(IntGauge);

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Acks {
    /// Questions go to `base`'s ack endpoint on `channel`.
    pub fn new(
        client: Client,
        base: &Url,
        token: Secret,
        channel: String,
        config: AckConfig,
        metrics: AckMetrics,
    ) -> Self {
        Self {
            client,
            url: crate::endpoint(base, ACK_PATH),
            token,
            channel,
            config,
            metrics,
        }
    }

    /// Waits until `ack_id` is confirmed; after the timeout, a retry (the batch is resent).
    pub async fn confirm(&self, ack_id: u64) -> Result<(), SendError> {
        self.metrics.pending.inc();
        let _pending = Pending(self.metrics.pending.clone());
        let start = Instant::now();
        let mut wait = self.config.poll;
        loop {
            tokio::time::sleep(wait).await;
            match self.ask(ack_id).await {
                Ok(true) => {
                    self.metrics.latency.observe(start.elapsed().as_secs_f64());
                    return Ok(());
                }
                Ok(false) | Err(SendError::Retry { .. }) => {}
                Err(stop) => return Err(stop),
            }
            let left = self.config.timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(SendError::Retry {
                    reason: format!(
                        "{HOP}: ack {ack_id} not confirmed within {}; sending the batch again \
                         (the indexer may hold it twice: deduplicate on event_id)",
                        humantime::format_duration(self.config.timeout)
                    ),
                    after: None,
                });
            }
            wait = (wait * 2).min(MAX_POLL).min(left);
        }
    }

    /// Whether the indexer confirmed `ack_id`.
    async fn ask(&self, ack_id: u64) -> Result<bool, SendError> {
        let response = self
            .client
            .post(self.url.clone())
            .header(AUTHORIZATION, format!("Splunk {}", self.token.expose()))
            .header(CHANNEL, &self.channel)
            .json(&serde_json::json!({ "acks": [ack_id] }))
            .send()
            .await
            .map_err(|e| transport_error(HOP, &e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = body_prefix(response, MAX_ANSWER)
            .await
            .map_err(|e| transport_error(HOP, &e))?;
        if status.is_success()
            && let Ok(s) = serde_json::from_slice::<Status>(&body)
        {
            return Ok(s.acks.get(&ack_id.to_string()).copied().unwrap_or(false));
        }
        let context = crate::send::Context {
            batch_len: 0,
            index: None,
        };
        match Answer::parse(&body) {
            Some(a) if a.code.is_some() => {
                crate::send::classify(status, &headers, &body, &context).map(|_| false)
            }
            _ => Err(status_error(
                HOP,
                status,
                &headers,
                &String::from_utf8_lossy(&body),
            )),
        }
    }
}
