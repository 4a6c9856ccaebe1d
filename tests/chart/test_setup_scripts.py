"""The setup hook's two scripts, run against the real local stack (dev/stack up): topics
created from a topics file with the stock Kafka tools, and schemas registered through the
registry's Confluent-compatible API. Unique topic and subject names keep other tests' state
untouched."""

import json
import os
import pathlib
import re
import subprocess
import urllib.request
import uuid

import pytest

from conftest import CHART, ROOT

SCRIPTS = CHART / "files" / "scripts"
BOOTSTRAP = os.environ.get("DOCKET_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
REGISTRY = os.environ.get("DOCKET_SCHEMA_REGISTRY_URL", "http://127.0.0.1:18081/apis/ccompat/v7")
# Where dev/stack unpacked Kafka: its cache dir and version (dev/stack.env).
CACHE = pathlib.Path(os.environ.get("DOCKET_CACHE_DIR", pathlib.Path.home() / ".cache" / "docket"))
KAFKA_VERSION = os.environ.get("KAFKA_VERSION") or re.search(
    r"KAFKA_VERSION=\$\{KAFKA_VERSION:-([^}]+)\}", (ROOT / "dev" / "stack.env").read_text()
).group(1)
KAFKA_LIBS = CACHE / f"kafka-{KAFKA_VERSION}" / "libs"


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as answer:
        return json.load(answer)


@pytest.fixture
def kafka_bin(tmp_path):
    """kafka-topics.sh and kafka-configs.sh as the apache/kafka image has them, over the
    stack's Kafka jars: the same main classes the image's scripts run."""
    if not KAFKA_LIBS.is_dir():
        pytest.fail(f"{KAFKA_LIBS} missing: run dev/stack up first")
    java = f'exec java -Xmx256m -Ddocket.log.level=WARN -Dlog4j2.configurationFile={ROOT}/dev/log4j2.properties -cp "{KAFKA_LIBS}/*"'
    for script, main in [("kafka-topics.sh", "org.apache.kafka.tools.TopicCommand"), ("kafka-configs.sh", "kafka.admin.ConfigCommand")]:
        path = tmp_path / script
        path.write_text(f'#!/bin/sh\n{java} {main} "$@"\n')
        path.chmod(0o755)
    return tmp_path


def create_topics(kafka_bin, topics_file):
    env = dict(
        os.environ,
        KAFKA_BIN=str(kafka_bin),
        BOOTSTRAP=BOOTSTRAP,
        REPLICATION_FACTOR="1",
        MIN_INSYNC_REPLICAS="1",
        TOPICS_FILE=str(topics_file),
    )
    return subprocess.run(["bash", str(SCRIPTS / "create-topics.sh")], env=env, capture_output=True, text=True, timeout=300)


def describe(kafka_bin, topic):
    run = subprocess.run(
        [str(kafka_bin / "kafka-configs.sh"), "--bootstrap-server", BOOTSTRAP, "--describe", "--entity-type", "topics", "--entity-name", topic],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout


def partitions(kafka_bin, topic):
    run = subprocess.run(
        [str(kafka_bin / "kafka-topics.sh"), "--bootstrap-server", BOOTSTRAP, "--describe", "--topic", topic],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return run.stdout.count("\tPartition: ")


def test_create_topics_creates_then_updates_configuration(kafka_bin, tmp_path):
    name = f"chart-setup-{uuid.uuid4().hex[:12]}"
    topics = tmp_path / "topics.conf"
    topics.write_text(f"# comment\n\n{name}.a  3  3600000  delete\n{name}.b  1  7200000  delete\n")
    run = create_topics(kafka_bin, topics)
    assert run.returncode == 0, run.stdout + run.stderr
    assert partitions(kafka_bin, f"{name}.a") == 3
    assert partitions(kafka_bin, f"{name}.b") == 1
    assert "retention.ms=3600000" in describe(kafka_bin, f"{name}.a")
    assert "min.insync.replicas=1" in describe(kafka_bin, f"{name}.a")
    # An upgrade with a changed retention applies it to the existing topic.
    topics.write_text(f"{name}.a  3  60000  delete\n{name}.b  1  7200000  delete\n")
    run = create_topics(kafka_bin, topics)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"topic {name}.a exists" in run.stdout
    assert "retention.ms=60000" in describe(kafka_bin, f"{name}.a")


def register(schemas_dir):
    env = dict(os.environ, REGISTRY_URL=REGISTRY, COMPATIBILITY="BACKWARD", SCHEMAS_DIR=str(schemas_dir))
    return subprocess.run(["sh", str(SCRIPTS / "register-schemas.sh")], env=env, capture_output=True, text=True, timeout=120)


def test_register_schemas_is_idempotent_and_sets_compatibility(tmp_path):
    prefix = f"chart-setup-{uuid.uuid4().hex[:12]}"
    payloads = {}
    for path in sorted((CHART / "files" / "schemas").glob("*.json")):
        subject = f"{prefix}.{path.stem}"
        (tmp_path / f"{subject}.json").write_text(path.read_text())
        payloads[subject] = json.loads(path.read_text())["schema"]
    assert len(payloads) == 4
    first = register(tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    second = register(tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    for subject, schema in payloads.items():
        assert get_json(f"{REGISTRY}/subjects/{subject}/versions") == [1], subject
        latest = get_json(f"{REGISTRY}/subjects/{subject}/versions/latest")
        assert json.loads(latest["schema"]) == json.loads(schema), subject
        config = get_json(f"{REGISTRY}/config/{subject}")
        assert config["compatibilityLevel"] == "BACKWARD", subject


def test_register_schemas_fails_on_an_incompatible_schema(tmp_path):
    subject = f"chart-setup-{uuid.uuid4().hex[:12]}.docket.audit.v1-value"
    original = (CHART / "files" / "schemas" / "docket.audit.v1-value.json").read_text()
    (tmp_path / f"{subject}.json").write_text(original)
    assert register(tmp_path).returncode == 0
    schema = json.loads(json.loads(original)["schema"])
    schema["fields"].append({"name": "added_without_default", "type": "string"})
    (tmp_path / f"{subject}.json").write_text(json.dumps({"schema": json.dumps(schema)}))
    run = register(tmp_path)
    assert run.returncode != 0, "an incompatible schema must fail the hook"
    assert get_json(f"{REGISTRY}/subjects/{subject}/versions") == [1]
