//! How every Docket consumer joins its group and reports its lag.
//!
//! Static membership: every consumer in a group has a stable `group.instance.id` (its
//! service's `..._INSTANCE` variable, else the host name, which is the pod name under
//! Kubernetes), so a restarted instance takes its partitions back at once instead of waiting
//! for the dead member's session to time out. Two processes of one group must not share an
//! instance id: the newer fences the older.
//!
//! Consumer lag comes from librdkafka's statistics (`consumer_lag` per partition, every
//! [`STATISTICS_INTERVAL_MS`]): the client already knows its positions and the partitions'
//! ends, so measuring lag costs no request and never blocks the consumer loop, unlike
//! fetching watermarks per partition.

use rdkafka::statistics::Statistics;

use crate::partition::TopicPartition;
use crate::settings::KafkaSettings;

/// librdkafka's property for the static member id.
pub const GROUP_INSTANCE_ID: &str = "group.instance.id";
/// How often librdkafka reports statistics (and so lag), unless the settings say otherwise.
pub const STATISTICS_INTERVAL_MS: &str = "5000";

/// The instance name: `explicit` if set and not empty, else the host name (the pod name under
/// Kubernetes), else `fallback`.
pub fn instance_name(explicit: Option<&str>, fallback: &str) -> String {
    explicit
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .or_else(host_name)
        .unwrap_or_else(|| fallback.to_owned())
}

fn host_name() -> Option<String> {
    let from_env = std::env::var("HOSTNAME").ok();
    let from_kernel = || std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    from_env
        .or_else(from_kernel)
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

impl KafkaSettings {
    /// These settings for a static member named `instance` that reports statistics (lag).
    pub fn for_member(&self, instance: &str) -> Self {
        let mut settings = self.clone();
        settings
            .properties
            .insert(GROUP_INSTANCE_ID.to_owned(), instance.to_owned());
        settings
            .properties
            .entry("statistics.interval.ms".to_owned())
            .or_insert_with(|| STATISTICS_INTERVAL_MS.to_owned());
        settings
    }
}

/// Records behind each partition's end, from one statistics report.
pub fn consumer_lag(statistics: &Statistics) -> Vec<(TopicPartition, i64)> {
    statistics
        .topics
        .iter()
        .flat_map(|(topic, t)| {
            t.partitions
                .iter()
                .filter(|(id, p)| **id >= 0 && p.consumer_lag >= 0)
                .map(move |(id, p)| (TopicPartition::new(topic.as_str(), *id), p.consumer_lag))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_name_wins_and_a_blank_one_does_not_count() {
        assert_eq!(instance_name(Some("pod-1"), "x"), "pod-1");
        assert!(!instance_name(Some("  "), "fallback-0").trim().is_empty());
    }

    #[test]
    fn members_carry_their_instance_id_and_report_statistics() {
        let s = KafkaSettings::default().for_member("sink-0");
        assert_eq!(s.properties[GROUP_INSTANCE_ID], "sink-0");
        assert_eq!(
            s.properties["statistics.interval.ms"],
            STATISTICS_INTERVAL_MS
        );
    }
}
