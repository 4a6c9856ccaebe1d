//! An HTTP sink's benchmark from end to end: the topics and the reference, the receiver (the
//! stack's OpenTelemetry Collector, or the discarding receiver with
//! `DOCKET_BENCH_RECEIVER=discard`), then the sink binary, and a baseline build first when
//! `DOCKET_BENCH_BASELINE` names one, each measured on the same topic.

use crate::discard::{Counter, Discard, Reply};
use crate::sink::SinkBench;

/// What differs between the HTTP sinks' benchmarks.
pub struct HttpSinkBench {
    /// The sink's short name (`splunk`): its label, topic and group names.
    pub name: &'static str,
    /// Its binary (`env!("CARGO_BIN_EXE_docket-sink-splunk")`).
    pub exe: &'static str,
    /// The sink's variable naming its destination (`DOCKET_SPLUNK_URL`).
    pub url_var: &'static str,
    /// The collector's receiver: `dev/stack env`'s variable for it, its default URL, and its
    /// label in the report.
    pub collector: (&'static str, &'static str, &'static str),
    /// The discarding receiver's answer to every request.
    pub reply: Reply,
    /// Counts the items (events, entries, log records) of one decompressed body.
    pub count: Counter,
    /// Any other variable the sink needs (a token).
    pub env: &'static [(&'static str, &'static str)],
}

impl HttpSinkBench {
    /// Fills the topic, measures the reference, then runs the baseline (if any) and the sink
    /// into the chosen receiver, printing a report line for each.
    pub async fn run(self) {
        let bench = SinkBench::new(self.name).await;
        let discard = match std::env::var("DOCKET_BENCH_RECEIVER") {
            Ok(r) if r == "discard" => Some(Discard::start(self.reply, self.count).await),
            _ => None,
        };
        let (collector_var, collector_url, collector_label) = self.collector;
        let (url, receiver) = match &discard {
            Some(d) => (d.url.clone(), "discarding receiver"),
            None => (
                std::env::var(self.url_var)
                    .or_else(|_| std::env::var(collector_var))
                    .unwrap_or_else(|_| collector_url.to_owned()),
                collector_label,
            ),
        };
        let baseline = SinkBench::baseline().map(|exe| ("baseline-", exe));
        let current = ("", self.exe.to_owned());
        for (prefix, exe) in baseline.into_iter().chain([current]) {
            let name = format!(
                "{}sink-{} ({receiver})",
                prefix.replace('-', " "),
                self.name
            );
            let group = bench.group(&format!("{prefix}{}", self.name));
            let mut command = bench.command(&exe, &group);
            command
                .env(self.url_var, &url)
                .envs(self.env.iter().copied());
            bench.measure(&name, command, &group).await;
            discard.iter().for_each(Discard::print);
        }
        crate::delete_created_topics(&bench.settings).await;
    }
}
