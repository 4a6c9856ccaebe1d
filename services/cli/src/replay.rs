//! `docket replay <sink>`: moves one sink's group alone to a time (offsets-for-times), the
//! earliest or latest offsets, or the offsets of a file; refuses while the group has live
//! members; prints what moved per partition (`--dry-run` only the plan).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::CliError;
use crate::kafka::{Kafka, Tp};
use crate::local::Local;
use crate::{services, ui};

/// The largest offsets file read.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Where the sink starts again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Each partition's first offset.
    Earliest,
    /// Each partition's end (skips everything not yet delivered).
    Latest,
    /// The first record at or after this time (ms since the epoch).
    Time(i64),
}

impl FromStr for Start {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "earliest" => Ok(Self::Earliest),
            "latest" => Ok(Self::Latest),
            _ => chrono::DateTime::parse_from_rfc3339(s)
                .map(|t| Self::Time(t.timestamp_millis()))
                .map_err(|e| {
                    format!(
                        "expected an RFC 3339 time (2026-11-27T09:00:00Z), earliest or latest: {e}"
                    )
                }),
        }
    }
}

/// `docket replay`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// The sink whose group moves (s3, splunk, datadog, otlp).
    pub sink: String,
    /// Where to start again: an RFC 3339 time, earliest or latest.
    #[arg(
        long,
        required_unless_present = "to_offsets",
        conflicts_with = "to_offsets"
    )]
    pub from: Option<Start>,
    /// A file of `topic,partition,offset` lines (as kafka-consumer-groups exports them);
    /// partitions it does not name stay where they are.
    #[arg(long, value_name = "FILE")]
    pub to_offsets: Option<PathBuf>,
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// One partition's move.
struct Move {
    tp: Tp,
    from: Option<i64>,
    to: i64,
}

/// Runs `docket replay`.
pub async fn run(local: &Local, args: ReplayArgs) -> Result<(), CliError> {
    if services::sink(&args.sink).is_none() {
        return Err(CliError::Usage(format!(
            "unknown sink {:?}; one of: {}",
            args.sink,
            services::sink_names().join(", ")
        )));
    }
    let settings = local.kafka()?;
    let group = local.names.sink_group(&args.sink);
    let topics = vec![local.names.enriched(), local.names.audit()];
    tokio::task::block_in_place(|| {
        let kafka = Kafka::new(&settings)?;
        refuse_if_live(&kafka, &group, &args.sink)?;
        let tps = kafka.topic_partitions(&topics)?;
        let targets = match (&args.from, &args.to_offsets) {
            (Some(start), _) => targets_for(&kafka, &tps, *start)?,
            (None, Some(file)) => read_offsets(file, &tps)?,
            (None, None) => return Err(CliError::Usage("give --from or --to-offsets".into())),
        };
        let committed = kafka.committed(&group, &tps)?;
        let moves: Vec<Move> = targets
            .iter()
            .map(|(tp, to)| Move {
                tp: tp.clone(),
                from: committed.get(tp).copied().flatten(),
                to: *to,
            })
            .collect();
        if args.dry_run {
            println!("plan for {group} (dry run: nothing changed)");
            print!("{}", render(&moves));
            return Ok(());
        }
        refuse_if_live(&kafka, &group, &args.sink)?;
        kafka.commit(&group, &targets)?;
        println!("moved {group}");
        print!("{}", render(&moves));
        Ok(())
    })
}

/// Refuses while `group` has live members, saying how to stop them.
fn refuse_if_live(kafka: &Kafka, group: &str, sink: &str) -> Result<(), CliError> {
    let (_, members) = kafka.members(group)?;
    if members.is_empty() {
        return Ok(());
    }
    let who: Vec<String> = members
        .iter()
        .map(|m| format!("{}@{}", m.client_id, m.host))
        .collect();
    Err(CliError::Refused(format!(
        "{group} has {} live member(s) ({}); stop the sink first: locally `docket down sink-{sink}`, \
         with Helm `kubectl scale deployment/<release>-sink-{sink} --replicas=0`; replay, then start it again",
        members.len(),
        who.join(", ")
    )))
}

/// Each partition's target offset for `start`.
fn targets_for(kafka: &Kafka, tps: &[Tp], start: Start) -> Result<BTreeMap<Tp, i64>, CliError> {
    match start {
        Start::Time(ms) => kafka.offsets_for_time(tps, ms),
        Start::Earliest | Start::Latest => tps
            .iter()
            .map(|tp| {
                let (low, high) = kafka.watermarks(tp)?;
                Ok((
                    tp.clone(),
                    if start == Start::Earliest { low } else { high },
                ))
            })
            .collect(),
    }
}

/// Reads `topic,partition,offset` lines; every named partition must be one of `tps`.
fn read_offsets(path: &Path, tps: &[Tp]) -> Result<BTreeMap<Tp, i64>, CliError> {
    let shown = path.display();
    let size = std::fs::metadata(path)
        .map_err(CliError::io(format!("reading {shown}")))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(CliError::Usage(format!(
            "{shown} is larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(CliError::io(format!("reading {shown}")))?;
    parse_offsets(&text, tps).map_err(|e| CliError::Usage(format!("{shown}: {e}")))
}

/// Parses the offsets file's text.
pub fn parse_offsets(text: &str, tps: &[Tp]) -> Result<BTreeMap<Tp, i64>, String> {
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [topic, partition, offset] = fields[..] else {
            return Err(format!("line {}: expected topic,partition,offset", n + 1));
        };
        let partition: i32 = partition
            .parse()
            .map_err(|_| format!("line {}: bad partition", n + 1))?;
        let offset: i64 = offset
            .parse()
            .ok()
            .filter(|o| *o >= 0)
            .ok_or(format!("line {}: bad offset", n + 1))?;
        let tp = (topic.to_owned(), partition);
        if !tps.contains(&tp) {
            return Err(format!(
                "line {}: {topic}[{partition}] is not a partition this sink reads",
                n + 1
            ));
        }
        out.insert(tp, offset);
    }
    if out.is_empty() {
        return Err("no offsets in the file".into());
    }
    Ok(out)
}

fn render(moves: &[Move]) -> String {
    let mut rows = vec![
        ["TOPIC", "PARTITION", "FROM", "TO", "MOVED"]
            .map(String::from)
            .to_vec(),
    ];
    for m in moves {
        let moved = match m.from {
            Some(f) if f > m.to => format!("{} again", records(f - m.to)),
            Some(f) if f < m.to => format!("{} skipped", records(m.to - f)),
            Some(_) => "unchanged".into(),
            None => "first commit".into(),
        };
        let from = m.from.map_or("-".into(), |f| f.to_string());
        rows.push(vec![
            m.tp.0.clone(),
            m.tp.1.to_string(),
            from,
            m.to.to_string(),
            moved,
        ]);
    }
    ui::table(&rows)
}

/// `n records` (offsets, so transaction markers count too).
fn records(n: i64) -> String {
    if n == 1 {
        "1 record".into()
    } else {
        format!("{n} records")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tps() -> Vec<Tp> {
        vec![("a".into(), 0), ("a".into(), 1)]
    }

    #[test]
    fn start_reads_times_and_words() {
        assert_eq!("earliest".parse(), Ok(Start::Earliest));
        assert_eq!(
            "2026-01-01T00:00:01+01:00".parse(),
            Ok(Start::Time(1_767_222_001_000))
        );
        assert!("yesterday".parse::<Start>().is_err());
    }

    #[test]
    fn hostile_offsets_files_are_refused_with_the_line() {
        assert_eq!(
            parse_offsets("a,1,5\n# c\n", &tps()).unwrap()[&("a".into(), 1)],
            5
        );
        for bad in [
            "a,0",
            "a,0,-1",
            "a,9,1",
            "b,0,1",
            "a,x,1",
            "a,0,1,2",
            "",
            "a,0,99999999999999999999",
        ] {
            assert!(parse_offsets(bad, &tps()).is_err(), "{bad:?}");
        }
    }
}
