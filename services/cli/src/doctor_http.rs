//! `doctor`'s hops to the HTTP destinations (Splunk HEC, Datadog, OTLP/HTTP): transport (the
//! endpoint answers what that API answers; TLS and plain-HTTP mismatches told apart by the
//! shared start-up probe of `docket-sink-http`) and credential (HEC token, Datadog key
//! validation, an empty OTLP export).

use reqwest::{Method, RequestBuilder, StatusCode, Url};

use docket_sink_http::Probe;

use crate::services::Vars;

const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// One HTTP destination's checks.
pub struct HttpTarget {
    /// `splunk`, `datadog` or `otlp`.
    pub component: &'static str,
    /// Base URL.
    pub url: String,
    /// A request whose answer shows the endpoint speaks the API, and the test of that answer.
    transport: (Method, &'static str, fn(StatusCode, &str) -> bool),
    /// A request carrying the credential.
    credential: (Method, &'static str, Vec<(String, String)>, &'static str),
}

/// The settings of sink `sink`: the environment's, else the local collector's receiver.
pub fn target(sink: &str, env: &Vars) -> Option<HttpTarget> {
    let get = |k: &str| env.get(k).cloned().filter(|v| !v.is_empty());
    let secret = |k: &str| get(k).unwrap_or_else(|| "docket-local".into());
    match sink {
        "splunk" => Some(HttpTarget {
            component: "splunk",
            url: get("DOCKET_SPLUNK_URL").or_else(|| get("DOCKET_OTELCOL_HEC_URL"))?,
            transport: (Method::GET, "/services/collector/health", |s, b| {
                s.is_success() && b.contains("\"code\"")
            }),
            credential: (
                Method::POST,
                "/services/collector/event",
                vec![(
                    "authorization".into(),
                    format!("Splunk {}", secret("DOCKET_SPLUNK_TOKEN")),
                )],
                "",
            ),
        }),
        "datadog" => Some(HttpTarget {
            component: "datadog",
            url: get("DOCKET_DATADOG_URL").or_else(|| get("DOCKET_OTELCOL_DATADOG_URL"))?,
            transport: (Method::GET, "/api/v1/validate", |s, _| {
                s != StatusCode::NOT_FOUND
            }),
            credential: (
                Method::GET,
                "/api/v1/validate",
                vec![("dd-api-key".into(), secret("DOCKET_DATADOG_API_KEY"))],
                "",
            ),
        }),
        "otlp" => Some(HttpTarget {
            component: "otlp",
            url: get("DOCKET_OTLP_ENDPOINT").or_else(|| get("DOCKET_OTELCOL_OTLP_URL"))?,
            transport: (Method::GET, "/v1/logs", |s, _| s != StatusCode::NOT_FOUND),
            credential: (
                Method::POST,
                "/v1/logs",
                otlp_headers(get("DOCKET_OTLP_HEADERS")),
                "{}",
            ),
        }),
        _ => None,
    }
}

/// `name=value,name=value` as header pairs, with the JSON content type an empty export needs.
fn otlp_headers(spec: Option<String>) -> Vec<(String, String)> {
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    for pair in spec
        .unwrap_or_default()
        .split(',')
        .filter(|p| !p.trim().is_empty())
    {
        if let Some((k, v)) = pair.split_once('=') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    headers
}

impl HttpTarget {
    /// The URL of `path` on the base.
    fn url(&self, path: &str) -> Result<Url, String> {
        Url::parse(&format!("{}{path}", self.url.trim_end_matches('/')))
            .map_err(|e| format!("{}: {e}", self.url))
    }

    /// `host:port` of the base URL.
    pub fn addr(&self) -> Result<String, String> {
        let u = Url::parse(&self.url).map_err(|e| format!("{}: {e}", self.url))?;
        Ok(format!(
            "{}:{}",
            u.host_str().unwrap_or_default(),
            u.port_or_known_default().unwrap_or(443)
        ))
    }

    /// The transport hop.
    pub async fn transport(&self) -> Result<String, String> {
        let (method, path, accept) = &self.transport;
        let url = self.url(path)?;
        let probe = Probe::new(&format!("{} endpoint", self.component), &url);
        let r = client()?
            .request(method.clone(), url.clone())
            .send()
            .await
            .map_err(|e| probe.failure(e).to_string())?;
        let (status, body) = (r.status(), r.text().await.unwrap_or_default());
        if accept(status, &body) {
            Ok(format!("{method} {path} answered {status}"))
        } else {
            Err(format!(
                "{method} {url} answered {status}: not the {} API (wrong port or path?)",
                self.component
            ))
        }
    }

    /// The credential hop.
    pub async fn credential(&self) -> Result<String, String> {
        let (method, path, headers, body) = &self.credential;
        let url = self.url(path)?;
        let probe = Probe::new(&format!("{} endpoint", self.component), &url);
        let mut req: RequestBuilder = client()?.request(method.clone(), url).body(*body);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let r = req.send().await.map_err(|e| probe.failure(e).to_string())?;
        let (status, text) = (r.status(), r.text().await.unwrap_or_default());
        // HEC answers 400 "No data" to an empty body once the token is accepted.
        let accepted = status.is_success()
            || (self.component == "splunk" && status == StatusCode::BAD_REQUEST);
        if accepted {
            return Ok(format!(
                "{method} {path} with the credential answered {status}"
            ));
        }
        probe
            .answer(status, &text)
            .map(|()| String::new())
            .map_err(|e| e.to_string())
    }
}

fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| e.to_string())
}
