"""docker-compose.yml parsed and resolved by compose-go (Docker Compose's own parser, no Docker
needed), then checked against the local stack and the image: every Docket binary runs from the
one image, locked down, bound to every interface inside its container; the registry keeps its
schemas on a volume; its compatibility is set by a container that has curl, with no failure
hidden."""

import json
import re
import subprocess

import pytest
import yaml

from conftest import ROOT

DOCKET_IMAGE = "docket:local"


@pytest.fixture(scope="module")
def compose():
    run = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--format", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def dockerfile_binaries():
    text = (ROOT / "Dockerfile").read_text()
    return re.search(r'ARG BINARIES="([^"]+)"', text).group(1).split()


def docket_services(compose):
    return {name: s for name, s in compose["services"].items() if s.get("image") == DOCKET_IMAGE}


def test_every_binary_runs_from_the_one_image(compose):
    services = docket_services(compose)
    commands = sorted(s["command"][0] for s in services.values())
    long_running = sorted(b for b in dockerfile_binaries() if b != "docket")
    assert commands == long_running
    for name, s in services.items():
        assert s["build"]["dockerfile"] == "Dockerfile", name


def test_docket_services_are_locked_down(compose):
    for name, s in docket_services(compose).items():
        assert s["read_only"] is True, name
        assert s["user"] == "10001:10001", name
        assert s["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in s["security_opt"], name
        for addr in (v for k, v in s["environment"].items() if k.endswith(("_ADDR", "_LISTEN"))):
            assert addr.startswith("0.0.0.0:"), f"{name}: {addr}"
        assert s["environment"]["DOCKET_KAFKA_BOOTSTRAP"] == "kafka:29092", name


def test_ports_are_published_on_loopback_only(compose):
    for name, s in compose["services"].items():
        for port in s.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", name


def test_stack_ports_match_dev_stack(compose):
    env = (ROOT / "dev" / "stack.env").read_text()

    def default(var):
        return re.search(rf"{var}=\$\{{{var}:-(\d+)\}}", env).group(1)

    published = {
        p["published"]: name for name, s in compose["services"].items() for p in s.get("ports", [])
    }
    for var, service in [
        ("DOCKET_KAFKA_PORT", "kafka"),
        ("DOCKET_REGISTRY_PORT", "registry"),
        ("DOCKET_S3_PORT", "s3"),
        ("DOCKET_OTELCOL_HEC_PORT", "otelcol"),
        ("DOCKET_OTELCOL_DATADOG_PORT", "otelcol"),
        ("DOCKET_OTELCOL_OTLP_HTTP_PORT", "otelcol"),
    ]:
        assert published.get(default(var)) == service, var


def test_registry_keeps_schemas_on_a_volume(compose):
    registry = compose["services"]["registry"]
    url = registry["environment"]["APICURIO_DATASOURCE_URL"]
    assert url.startswith("jdbc:h2:file:"), url
    path = url.removeprefix("jdbc:h2:file:").split(";")[0]
    volumes = [v for v in registry["volumes"] if v["type"] == "volume"]
    assert any(path.startswith(v["target"] + "/") for v in volumes), (path, volumes)


def test_compatibility_is_set_by_a_container_with_curl_and_failures_show(compose):
    setup = compose["services"]["registry-setup"]
    assert setup["image"].startswith("curlimages/curl:")
    script = " ".join(setup["command"])
    assert "/config" in script and "BACKWARD" in json.dumps(setup["environment"])
    for s in compose["services"].values():
        assert "|| true" not in json.dumps(s.get("command") or ""), "a hidden failure"
    docket = docket_services(compose)
    for name, s in docket.items():
        assert s["depends_on"]["registry-setup"]["condition"] == "service_completed_successfully", name
        assert s["depends_on"]["topics"]["condition"] == "service_completed_successfully", name


def test_topics_come_from_the_projects_list(compose):
    topics = compose["services"]["topics"]
    sources = {v["target"]: v["source"] for v in topics["volumes"]}
    assert sources["/topics.conf"] == str(ROOT / "config" / "topics.conf")


def test_collector_has_the_stacks_receivers(compose):
    stack = yaml.safe_load((ROOT / "dev" / "otelcol" / "config.yaml").read_text())
    ours = yaml.safe_load(compose["configs"]["otelcol"]["content"])
    assert sorted(ours["receivers"]) == sorted(stack["receivers"])
    assert sorted(ours["service"]["pipelines"]) == sorted(stack["service"]["pipelines"])
