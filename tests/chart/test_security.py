"""Security properties of every rendered value set: restricted pods, credentials only by
reference to existing Secrets."""

import re

from conftest import containers, of_kind, pod_specs, render, render_error

# Volume types a restricted pod may use, plus PersistentVolumeClaims.
ALLOWED_VOLUMES = {"emptyDir", "configMap", "secret", "persistentVolumeClaim", "projected", "downwardAPI"}
SECRET_LOOKING = re.compile(r"(TOKEN|PASSWORD|SECRET|API_KEY|HEADERS|CREDENTIAL)", re.I)


def test_every_pod_is_restricted(manifests):
    specs = pod_specs(manifests)
    assert specs
    for owner, spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, owner
        assert pod.get("runAsUser", 0) != 0, owner
        assert pod["seccompProfile"]["type"] == "RuntimeDefault", owner
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), owner
        assert spec.get("automountServiceAccountToken") is False, owner
        for volume in spec.get("volumes", []):
            kinds = set(volume) - {"name"}
            assert kinds <= ALLOWED_VOLUMES, f"{owner}: volume {volume['name']} is {kinds}"
        for c in containers(spec):
            sc = c["securityContext"]
            where = f"{owner}/{c['name']}"
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc.get("privileged") is not True, where
            assert sc["capabilities"]["drop"] == ["ALL"], where
            assert not sc["capabilities"].get("add"), where
            assert sc.get("runAsUser", 1) != 0, where
            assert sc["seccompProfile"]["type"] == "RuntimeDefault", where
            for port in c.get("ports", []):
                assert "hostPort" not in port, where


def test_no_secret_value_is_inlined(manifests):
    assert not of_kind(manifests, "Secret"), "the chart must not create Secrets: credentials come from existing ones"
    for owner, spec in pod_specs(manifests):
        for c in containers(spec):
            for env in c.get("env", []):
                name = env["name"]
                if name.startswith("DOCKET_KAFKA_PROP_"):
                    secretish = re.search(r"(PASSWORD|SECRET|JAAS|TOKEN|PEM$)", name)
                else:
                    secretish = SECRET_LOOKING.search(name) or name.startswith("AWS_")
                if secretish:
                    assert "value" not in env, f"{owner}/{c['name']}: {name} is inlined"
                    assert "secretKeyRef" in env["valueFrom"], f"{owner}/{c['name']}: {name} not from a Secret"


def test_no_secret_material_in_config_maps(manifests):
    for cm in of_kind(manifests, "ConfigMap"):
        for key, text in cm.get("data", {}).items():
            assert "PRIVATE KEY" not in text, key
            assert not re.search(r"(password|secret|token)\s*[=:]\s*\S", text, re.I), key


def test_secret_kafka_properties_are_refused_inline():
    for prop in ["sasl.password", "ssl.key.password", "sasl.jaas.config", "sasl.oauthbearer.client.secret"]:
        error = render_error("s3-only", "--set", f"kafka.properties.{prop.replace('.', chr(92) + '.')}=x")
        assert "schema" in error, error


def test_secret_kafka_properties_come_from_secrets():
    sink = next(m for m in render("everything") if m["metadata"]["name"] == "audit-docket-sink-s3" and m["kind"] == "StatefulSet")
    env = {e["name"]: e for e in sink["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DOCKET_KAFKA_PROP_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "kafka-credentials",
        "key": "password",
    }
    assert env["DOCKET_KAFKA_PROP_SASL_USERNAME"]["value"] == "docket"


def test_irsa_annotation_reaches_only_the_s3_sinks_account():
    accounts = {m["metadata"]["name"]: m for m in of_kind(render("everything"), "ServiceAccount")}
    role = "eks.amazonaws.com/role-arn"
    assert accounts["audit-docket-sink-s3"]["metadata"]["annotations"][role].endswith("docket-sink-s3")
    for name, account in accounts.items():
        if name != "audit-docket-sink-s3":
            assert role not in account["metadata"].get("annotations", {}), name


def test_hostile_values_stay_inside_their_strings():
    """Values with YAML-significant characters land verbatim in one variable, never as new keys."""
    hostile = 'k:9092"\n        injected: true\n- name: DOCKET_X\n  value: "y'
    manifests = render("s3-only", "--set-string", f"kafka.bootstrap={hostile}", "--set-string", 'sinks.s3.prefix=a"b: {c}')
    sink = next(m for m in of_kind(manifests, "StatefulSet") if m["metadata"]["name"] == "audit-docket-sink-s3")
    env = {e["name"]: e for e in sink["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DOCKET_KAFKA_BOOTSTRAP"]["value"] == hostile
    assert env["DOCKET_S3_PREFIX"]["value"] == 'a"b: {c}'
    assert "DOCKET_X" not in env
    for owner, spec in pod_specs(manifests):
        for c in containers(spec):
            assert "injected" not in c, owner


def test_variable_names_from_values_are_checked():
    assert "schema" in render_error("s3-only", "--set", "gateway.env.BAD\\ NAME=x")
    assert "schema" in render_error("s3-only", "--set", "sinks.s3.secretEnv[0].name=a-b", "--set", "sinks.s3.secretEnv[0].secretName=s", "--set", "sinks.s3.secretEnv[0].key=k")
