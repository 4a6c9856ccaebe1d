//! The start-up check: an empty export request (valid in OTLP, it stores nothing) tells
//! apart an unreachable receiver, a TLS/transport mismatch and refused credentials before
//! anything is consumed.

use docket_sink_http::{Probe, ProbeError};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use prost::Message;

use crate::send::OtlpSink;

/// The hop named by the check.
pub const HOP: &str = "OTLP receiver";

/// Sends one empty export request through `sink`'s client, headers and encoding.
pub async fn receiver(sink: &OtlpSink, url: &reqwest::Url, gzip: bool) -> Result<(), ProbeError> {
    let probe = Probe::new(HOP, url);
    let empty = ExportLogsServiceRequest::default().encode_to_vec();
    let body = if gzip {
        docket_sink_http::gzip(&empty)
    } else {
        empty
    };
    let response = sink.post(body).await.map_err(|e| probe.failure(e))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let shown: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
    probe.answer(status, &shown)
}
