"""What each workload promises: bind addresses, probes, the joiner's identity, the gateway's
single replica with its volume, KEDA bounds, and the setup hook Job."""

import pytest

from conftest import ROOT, containers, env_of, named, of_kind, pod_specs, render, render_error

BIND = {
    "docket-gateway": "DOCKET_GATEWAY_LISTEN",
    "docket-joiner": "DOCKET_JOINER_METRICS_ADDR",
    "docket-sink-s3": "DOCKET_SINK_HTTP_ADDR",
    "docket-sink-splunk": "DOCKET_SINK_HTTP_ADDR",
    "docket-sink-datadog": "DOCKET_SINK_HTTP_ADDR",
    "docket-sink-otlp": "DOCKET_SINK_HTTP_ADDR",
}


def services_of(manifests):
    """Every long-running Docket container, by its binary."""
    found = {}
    for m in manifests:
        if m["kind"] in ("Deployment", "StatefulSet"):
            for c in m["spec"]["template"]["spec"]["containers"]:
                found[c["command"][0]] = (m, c)
    return found


def test_services_bind_every_interface_and_probe_their_port(manifests):
    services = services_of(manifests)
    assert services
    for binary, (_, c) in services.items():
        assert env_of(c)[BIND[binary]]["value"].startswith("0.0.0.0:"), binary
        port = int(env_of(c)[BIND[binary]]["value"].rsplit(":", 1)[1])
        (declared,) = c["ports"]
        assert declared["containerPort"] == port, binary
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", binary
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", binary
        assert c["readinessProbe"]["httpGet"]["port"] == declared["name"], binary


def test_pods_carry_scrape_annotations(manifests):
    for binary, (m, c) in services_of(manifests).items():
        annotations = m["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", binary
        assert annotations["prometheus.io/port"] == str(c["ports"][0]["containerPort"]), binary


def test_joiner_is_a_statefulset_named_by_its_pods():
    joiner = named(render("everything"), "StatefulSet", "audit-docket-joiner")
    (c,) = joiner["spec"]["template"]["spec"]["containers"]
    assert env_of(c)["DOCKET_JOINER_INSTANCE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    startup = c["startupProbe"]
    assert startup["httpGet"]["path"] == "/readyz"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 600


def test_gateway_replicas_share_the_state_log_and_keep_their_own_spool():
    manifests = render("everything")
    gateway = named(manifests, "StatefulSet", "audit-docket-gateway")
    assert gateway["spec"]["replicas"] == 2
    spec = gateway["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    env = env_of(c)
    assert env["DOCKET_GATEWAY_STATE_TOPIC"]["value"] == "docket.gateway.state.v1"
    assert env["DOCKET_GATEWAY_INSTANCE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    mounts = {v["mountPath"]: v["name"] for v in c["volumeMounts"]}
    state = mounts[env["DOCKET_GATEWAY_STATE_DIR"]["value"]]
    claims = [t["metadata"]["name"] for t in gateway["spec"]["volumeClaimTemplates"]]
    assert claims == [state]
    assert not [m for m in manifests if m["kind"] == "PersistentVolumeClaim"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    config = volumes[mounts["/etc/docket/gateway"]]
    assert config["secret"]["secretName"] == "docket-gateway-config"
    assert env_of(c)["DOCKET_GATEWAY_CONFIG"]["value"].startswith("/etc/docket/gateway/")


def test_gateway_replicas_can_be_set_but_not_to_zero():
    gateway = named(render("s3-only", "--set", "gateway.replicas=3"), "StatefulSet", "audit-docket-gateway")
    assert gateway["spec"]["replicas"] == 3
    assert "replicas" in render_error("s3-only", "--set", "gateway.replicas=0")


def test_keda_bounds_follow_the_partitions():
    error = render_error("keda", "--set", "sinks.s3.autoscaling.maxReplicas=7")
    assert "6 partitions" in error
    # The Datadog sink reads only audit (3 partitions) in this value set.
    assert "3 partitions" in render_error("keda", "--set", "sinks.datadog.autoscaling.maxReplicas=4")
    assert "activationLagThreshold" in render_error("keda", "--set", "sinks.s3.autoscaling.activationLagThreshold=1")


def test_fixed_replica_counts_follow_the_partitions():
    assert "6 partitions" in render_error("s3-only", "--set", "sinks.s3.replicas=7")
    assert "3 partitions" in render_error("s3-only", "--set", "sinks.s3.streams=audit", "--set", "sinks.s3.replicas=4")
    assert "6 partitions" in render_error("s3-only", "--set", "joiner.replicas=7")
    render("s3-only", "--set", "sinks.s3.replicas=6", "--set", "joiner.replicas=6")


def test_scaled_objects_scale_the_sinks_statefulsets():
    manifests = render("keda")
    scaled = of_kind(manifests, "ScaledObject")
    assert len(scaled) == 2
    for so in scaled:
        ref = so["spec"]["scaleTargetRef"]
        assert ref["kind"] == "StatefulSet", "KEDA defaults to a Deployment target"
        target = named(manifests, "StatefulSet", ref["name"])
        assert "replicas" not in target["spec"], "KEDA owns the replica count"
        trigger = so["spec"]["triggers"][0]
        assert trigger["type"] == "kafka"
        assert int(trigger["metadata"]["activationLagThreshold"]) > 1


def test_setup_job_creates_the_projects_topics_and_registers_schemas():
    manifests = render("s3-only")
    config = named(manifests, "ConfigMap", "audit-docket-setup")
    assert config["data"]["topics.conf"].strip() == (ROOT / "config" / "topics.conf").read_text().strip()
    subjects = sorted(k for k in config["data"] if k.endswith("-value.json"))
    assert subjects == [
        "docket.audit.v1-value.json",
        "docket.decisions.enriched.v1-value.json",
        "docket.decisions.v1-value.json",
        "docket.gateway.state.v1-value.json",
    ]
    job = named(manifests, "Job", "audit-docket-setup")
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert sorted(hooks) == ["pre-install", "pre-upgrade"]
    assert int(config["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"]
    )
    (topics,) = job["spec"]["template"]["spec"]["initContainers"]
    assert env_of(topics)["REPLICATION_FACTOR"]["value"] == "3"
    assert env_of(topics)["MIN_INSYNC_REPLICAS"]["value"] == "2"


def test_min_insync_above_replication_is_refused():
    assert "minInsyncReplicas" in render_error(
        "s3-only", "--set", "setup.replicationFactor=1", "--set", "setup.minInsyncReplicas=2"
    )


@pytest.mark.parametrize(
    "unset, message",
    [
        ("kafka.bootstrap=", "kafka.bootstrap must be set"),
        ("schemaRegistry.url=", "schemaRegistry.url must be set"),
        ("gateway.config.existingSecret=", "gateway.config.existingSecret must be set"),
        ("sinks.s3.bucket=", "sinks.s3.bucket must be set"),
    ],
)
def test_missing_required_values_fail_with_their_name(unset, message):
    assert message in render_error("s3-only", "--set", unset)


def test_switching_components_off_removes_their_workloads():
    manifests = render("otlp-only")
    commands = sorted(c["command"][0] for _, spec in pod_specs(manifests) for c in containers(spec) if c["command"][0].startswith("docket-"))
    assert commands == ["docket-joiner", "docket-sink-otlp"]


def test_service_monitor_reaches_every_metrics_port():
    manifests = render("everything")
    (monitor,) = of_kind(manifests, "ServiceMonitor")
    selector = monitor["spec"]["selector"]["matchLabels"]
    scraped = {e["port"] for e in monitor["spec"]["endpoints"]}
    services = [s for s in of_kind(manifests, "Service") if selector.items() <= s["metadata"]["labels"].items()]
    assert len(services) == 6  # gateway, joiner, four sinks
    for s in services:
        names = {p["name"] for p in s["spec"]["ports"]}
        assert names & scraped, s["metadata"]["name"]


def test_network_policies_open_exactly_each_pods_port():
    manifests = render("everything")
    ports = {
        m["metadata"]["labels"]["app.kubernetes.io/component"]: {
            p["containerPort"] for c in m["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])
        }
        for m in manifests
        if m["kind"] in ("Deployment", "StatefulSet")
    }
    policies = of_kind(manifests, "NetworkPolicy")
    assert len(policies) == len(ports)
    for policy in policies:
        component = policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        opened = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
        assert opened == ports[component], component
        assert policy["spec"]["ingress"][0]["from"], f"{component}: everything.yaml restricts the peers"


def test_each_sink_pod_is_a_static_member_named_by_its_pod():
    """A restarted sink pod must come back under the same member id to take its partitions back at once."""
    for name, sink in sink_statefulsets(render("everything")).items():
        env = env_of(sink["spec"]["template"]["spec"]["containers"][0])
        assert env["DOCKET_SINK_INSTANCE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name", name


def sink_statefulsets(manifests):
    return {
        m["metadata"]["name"]: m
        for m in of_kind(manifests, "StatefulSet")
        if m["metadata"]["labels"]["app.kubernetes.io/component"].startswith("sink-")
    }
