//! The one name for "a partition of a topic", used wherever Docket keys work by partition
//! (the engine's per-partition state, rebalance events, the joiner's offsets, lag metrics).

use std::fmt;
use std::sync::Arc;

use rdkafka::TopicPartitionList;

/// A topic and one of its partitions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic, shared: a partition's records and state all name it without a copy each.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`/`partition`.
    pub fn new(topic: impl Into<Arc<str>>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }

    /// Every partition of a librdkafka list.
    pub fn all_of(list: &TopicPartitionList) -> Vec<Self> {
        list.elements()
            .iter()
            .map(|e| Self::new(e.topic(), e.partition()))
            .collect()
    }
}

/// `topic/partition`.
impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_convert_and_display_as_topic_slash_partition() {
        let mut list = TopicPartitionList::new();
        list.add_partition("t", 2);
        let all = TopicPartition::all_of(&list);
        assert_eq!(all, vec![TopicPartition::new("t", 2)]);
        assert_eq!(all[0].to_string(), "t/2");
    }
}
