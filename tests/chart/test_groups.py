"""Consumer groups: one per sink, and the one `docket replay <sink>` resets is the one the
sink's pods and its KEDA scaler use."""

import pathlib
import re

from conftest import ROOT, containers, env_of, of_kind, render

SINKS = ["s3", "splunk", "datadog", "otlp"]


def group_prefix():
    """The sink group prefix the code uses (docket-kafka's `group::SINK_PREFIX`)."""
    source = (ROOT / "crates" / "kafka" / "src" / "topics.rs").read_text()
    return re.search(r'SINK_PREFIX: &str = "([^"]+)"', source).group(1)


def topic_names():
    lines = (ROOT / "config" / "topics.conf").read_text().splitlines()
    return {line.split()[0] for line in lines if line.strip() and not line.startswith("#")}


def sink_deployments(manifests):
    return {
        m["metadata"]["labels"]["app.kubernetes.io/component"].removeprefix("sink-"): m
        for m in of_kind(manifests, "StatefulSet")
        if m["metadata"]["labels"]["app.kubernetes.io/component"].startswith("sink-")
    }


def test_consumer_groups_are_distinct_per_sink():
    manifests = render("everything")
    deployments = sink_deployments(manifests)
    assert sorted(deployments) == sorted(SINKS)
    groups = [d["metadata"]["labels"]["docket.dev/consumer-group"] for d in deployments.values()]
    assert len(set(groups)) == len(groups)
    scaled = [so["spec"]["triggers"][0]["metadata"]["consumerGroup"] for so in of_kind(manifests, "ScaledObject")]
    assert sorted(scaled) == sorted(groups)
    for name, d in deployments.items():
        for c in containers(d["spec"]["template"]["spec"]):
            assert "DOCKET_SINK_GROUP" not in env_of(c), f"{name} overrides its group"
            assert c["command"] == [f"docket-sink-{name}"]


def test_each_sinks_group_is_the_one_replay_resets():
    prefix = group_prefix()
    for sink in SINKS:
        manifests = render(
            "everything",
            "--set",
            f"sinks.{sink}.enabled=true",
            "--set",
            f"sinks.{sink}.paused=true",
            "--set",
            f"replay.sink={sink}",
        )
        (job,) = [j for j in of_kind(manifests, "Job") if j["metadata"]["name"].startswith("audit-docket-replay-")]
        command = job["spec"]["template"]["spec"]["containers"][0]["command"]
        assert command[:3] == ["docket", "replay", sink]
        # The CLI suffixes group names with a local-run namespace when one is set.
        assert "DOCKET_LOCAL_NAMESPACE" not in env_of(job["spec"]["template"]["spec"]["containers"][0])
        resets = prefix + command[2]
        deployment = sink_deployments(manifests)[sink]
        assert deployment["metadata"]["labels"]["docket.dev/consumer-group"] == resets
        assert deployment["spec"]["replicas"] == 0, "replay needs the sink stopped"
        (so,) = [s for s in of_kind(manifests, "ScaledObject") if s["metadata"]["name"].endswith(f"sink-{sink}")]
        assert so["spec"]["triggers"][0]["metadata"]["consumerGroup"] == resets
        assert so["metadata"]["annotations"]["autoscaling.keda.sh/paused-replicas"] == "0"
        assert f"docket.dlq.sink-{sink}" in topic_names()


def test_replay_of_a_running_sink_is_refused():
    from conftest import render_error

    error = render_error("s3-only", "--set", "replay.enabled=true", "--set", "replay.sink=s3")
    assert "pause the sink first" in error
