#!/bin/bash
# Creates each topic of topics.conf that does not exist yet, then sets the configuration the
# file and the chart's values give (retention, cleanup policy, min.insync.replicas) on every
# topic, so an upgrade applies changed retention too. Partition counts of existing topics are
# never changed here: adding partitions moves keys, which is an operator's decision.
# Environment: BOOTSTRAP, REPLICATION_FACTOR, MIN_INSYNC_REPLICAS, TOPICS_FILE, COMMAND_CONFIG,
# KAFKA_BIN (the Kafka scripts; default: where the apache/kafka image has them).
set -euo pipefail
tools=${KAFKA_BIN:-/opt/kafka/bin}
admin=(--bootstrap-server "$BOOTSTRAP")
[ -n "${COMMAND_CONFIG:-}" ] && admin+=(--command-config "$COMMAND_CONFIG")

existing=$("$tools/kafka-topics.sh" "${admin[@]}" --list)
while read -r name partitions retention cleanup; do
  case "$name" in ''|'#'*) continue ;; esac
  configs="retention.ms=$retention,cleanup.policy=$cleanup,min.insync.replicas=$MIN_INSYNC_REPLICAS"
  if grep -qxF "$name" <<<"$existing"; then
    echo "setup: topic $name exists; setting $configs"
    "$tools/kafka-configs.sh" "${admin[@]}" --alter --entity-type topics --entity-name "$name" \
      --add-config "$configs"
  else
    echo "setup: creating topic $name ($partitions partitions, replication $REPLICATION_FACTOR)"
    "$tools/kafka-topics.sh" "${admin[@]}" --create --if-not-exists --topic "$name" \
      --partitions "$partitions" --replication-factor "$REPLICATION_FACTOR" \
      --config "retention.ms=$retention" --config "cleanup.policy=$cleanup" \
      --config "min.insync.replicas=$MIN_INSYNC_REPLICAS"
  fi
done <"$TOPICS_FILE"
