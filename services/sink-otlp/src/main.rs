//! `docket-sink-otlp`: reads its settings from the environment and runs the OTLP sink.

fn main() {}
