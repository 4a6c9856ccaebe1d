"""Every variable the chart and docker-compose.yml give a Docket binary is one the code reads:
a renamed variable in a service would otherwise be ignored silently by its pods."""

import json
import re
import subprocess

import yaml

from conftest import ROOT, VALUES, containers, pod_specs, render

# Read by libraries outside the workspace (the AWS SDK, tracing's filter) or by prefix.
OUTSIDE = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "RUST_LOG"}
PREFIXES = ("DOCKET_KAFKA_PROP_",)


def names_in_code():
    found = set()
    for path in list((ROOT / "services").rglob("*.rs")) + list((ROOT / "crates").rglob("*.rs")):
        found |= set(re.findall(r'"(DOCKET_[A-Z0-9_]+)"', path.read_text(errors="replace")))
    return found


def check(names, where):
    known = names_in_code()
    unknown = sorted(n for n in names if n not in known and n not in OUTSIDE and not n.startswith(PREFIXES))
    assert not unknown, f"{where} sets variables no Docket code reads: {unknown}"


def user_named(value_set):
    """Variables a value set names itself (secretEnv, env): the user's choice, not the chart's."""
    values = yaml.safe_load((VALUES / f"{value_set}.yaml").read_text())
    components = [values.get("gateway", {}), values.get("joiner", {}), *values.get("sinks", {}).values()]
    names = set()
    for c in components:
        names |= {e["name"] for e in c.get("secretEnv", [])} | set(c.get("env", {}))
    return names


def test_chart_sets_only_variables_the_binaries_read():
    names = set()
    for _, spec in pod_specs(render("everything")):
        for c in containers(spec):
            if c["image"].startswith("docket/"):
                names |= {e["name"] for e in c.get("env", [])}
    assert "DOCKET_KAFKA_BOOTSTRAP" in names
    check(names - user_named("everything"), "the chart")


def test_compose_sets_only_variables_the_binaries_read():
    run = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--format", "json"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    names = set()
    for s in json.loads(run.stdout)["services"].values():
        if s.get("image") == "docket:local":
            names |= set(s.get("environment", {}))
    check(names, "docker-compose.yml")
