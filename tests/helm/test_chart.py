"""helm/docgate, rendered without helm: Go's text/template + sprig (Debian packages)
and the Helm functions the chart uses (tests/helm/render), then every object checked
against the Kubernetes API schemas and the values against values.schema.json
(tests/helm/validate.mjs, npm kubernetes-models and ajv)."""
import json
import re
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from docgate_harness import wait_for

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "docgate"
HERE = Path(__file__).resolve().parent
ALL_ON = HERE / "values-all-on.yaml"


@pytest.fixture(scope="session")
def tools(docgate_bin):
    """Builds the renderer (Debian's Go and sprig), in the build tree."""
    work = Path(docgate_bin).resolve().parents[1] / "helm-tools"
    work.mkdir(exist_ok=True)
    env = {**os.environ, "GO111MODULE": "off", "GOPATH": "/usr/share/gocode", "GOCACHE": str(work / "gocache")}
    subprocess.run(["go", "build", "-o", str(work / "render"), "."], check=True, env=env, cwd=HERE / "render")
    return work


# Signs of a TLS-intercepting proxy whose certificate this machine does not trust.
UNTRUSTED_TLS = ("SELF_SIGNED_CERT_IN_CHAIN", "UNABLE_TO_GET_ISSUER_CERT", "UNABLE_TO_VERIFY_LEAF_SIGNATURE")


@pytest.fixture(scope="session")
def validator(tools):
    """Installs the schema packages pinned by package-lock.json, next to validate.mjs.

    Where the npm registry answers through a proxy whose certificate this machine does
    not trust (fresh machines here do), the install is retried without TLS verification:
    that is safe because `npm ci` checks every tarball against the sha512 in the
    committed lockfile, so nothing but the pinned bytes can be installed. Skips, saying
    why, only when the registry cannot be reached at all."""
    for name in ("package.json", "package-lock.json", "validate.mjs"):
        shutil.copy(HERE / name, tools / name)
    if (tools / "node_modules" / "kubernetes-models").is_dir():
        return tools
    out = npm_ci(tools)
    if out.returncode != 0 and any(sign in out.stderr for sign in UNTRUSTED_TLS):
        out = npm_ci(tools, "--strict-ssl=false")
    if out.returncode != 0:
        errors = [line for line in out.stderr.splitlines() if "err" in line.lower()][:3]
        pytest.skip("npm registry unusable here, no schemas to validate against: " + " | ".join(errors))
    return tools


def npm_ci(where, *flags):
    return subprocess.run(["npm", "ci", "--no-audit", "--no-fund", *flags], capture_output=True, text=True,
                          cwd=where, timeout=600)


def render(tools, *values_files):
    out = subprocess.run([str(tools / "render"), str(CHART), *map(str, values_files)], capture_output=True,
                         text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip())
    return json.loads(out.stdout)


def validate(validator, rendered, tmp_path):
    path = tmp_path / "rendered.json"
    path.write_text(json.dumps(rendered))
    return subprocess.run(["node", str(validator / "validate.mjs"), str(path), str(CHART / "values.schema.json")],
                          capture_output=True, text=True)


def configmap(rendered, name):
    return next(o for o in rendered["objects"] if o["kind"] == "ConfigMap" and o["metadata"]["name"] == name)


def by_kind(rendered):
    objects = {}
    for o in rendered["objects"]:
        objects.setdefault(o["kind"], []).append(o)
    return objects


@pytest.mark.parametrize("values", [[], [ALL_ON]], ids=["defaults", "all-on"])
def test_renders_the_objects_its_values_ask_for(tools, tmp_path, values):
    kinds = by_kind(render(tools, *values))
    assert set(kinds) >= {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget"}
    if values:
        assert {"HorizontalPodAutoscaler", "ServiceMonitor"} <= set(kinds)
        assert "replicas" not in kinds["Deployment"][0]["spec"], "the HPA owns the replica count"
    else:
        assert not {"HorizontalPodAutoscaler", "ServiceMonitor"} & set(kinds)
    no_url = tmp_path / "no-url.yaml"
    no_url.write_text('database:\n  url: ""\n')
    with pytest.raises(RuntimeError, match="database.url is required"):
        render(tools, no_url)


@pytest.mark.parametrize("values", [[], [ALL_ON]], ids=["defaults", "all-on"])
def test_every_object_and_the_values_pass_the_schemas(tools, validator, tmp_path, values):
    check = validate(validator, render(tools, *values), tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_schema_checks_can_fail(tools, validator, tmp_path):
    bad_values = tmp_path / "bad.yaml"
    bad_values.write_text("grpcPort: 70000\nlog:\n  format: xml\n"
                          "database:\n  url: postgresql://docgate:hunter2@db/docgate\n")
    check = validate(validator, render(tools, bad_values), tmp_path)
    assert check.returncode == 1, check.stdout
    for field in ("values/grpcPort", "values/log/format", "values/database/url"):  # no password in the URL
        assert field in check.stdout
    rendered = render(tools)
    deployment = next(o for o in rendered["objects"] if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["grpc"]["port"] = "grpc"
    check = validate(validator, rendered, tmp_path)
    assert check.returncode == 1 and "livenessProbe/grpc/port" in check.stdout


def test_probes_ports_security_and_secret_wiring(tools):
    rendered = render(tools, ALL_ON)
    kinds = by_kind(rendered)
    pod = kinds["Deployment"][0]["spec"]["template"]
    container = pod["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": 50051, "metrics": 9464, "health": 8081}

    # Native gRPC probes: readiness follows the database, liveness does not. TLS is
    # on: they ask the plaintext health port.
    assert container["readinessProbe"]["grpc"] == {"port": 8081, "service": "docgate.v1.DocumentService"}
    assert container["livenessProbe"]["grpc"] == {"port": 8081, "service": "liveness"}
    assert container["startupProbe"]["grpc"] == {"port": 8081, "service": "liveness"}

    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == "9464"
    assert annotations["checksum/config"]
    monitor = kinds["ServiceMonitor"][0]
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["metadata"]["labels"]["release"] == "prometheus"

    # The "restricted" Pod Security Standard.
    pod_security = pod["spec"]["securityContext"]
    assert pod_security["runAsNonRoot"] is True and pod_security["runAsUser"] > 0
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False and security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    assert pod["spec"]["automountServiceAccountToken"] is False

    # The password: an existing Secret, mounted read-only as a file of mode 0400,
    # which docgate reads at every connect; never an environment variable.
    volume = pod["spec"]["volumes"][0]["secret"]
    assert volume["secretName"] == "docgate-db" and volume["defaultMode"] == 0o400
    assert volume["items"] == [{"key": "pgpassword", "path": "pgpassword"}]
    mount = container["volumeMounts"][0]
    assert mount["readOnly"] is True
    config = kinds["ConfigMap"][0]["data"]
    assert config["DOCGATE_DATABASE_PASSWORD_FILE"] == mount["mountPath"] + "/pgpassword"
    assert "password" not in json.dumps(container.get("env", [])).lower()
    assert config["DOCGATE_POOL_MAX"] == "24" and config["DOCGATE_VISIBILITY_TICK"] == "10ms"

    # TLS to PostgreSQL: the CA certificate from its Secret, where PGSSLROOTCERT says.
    ca_volume = pod["spec"]["volumes"][1]["secret"]
    assert ca_volume["secretName"] == "postgres-ca" and ca_volume["items"] == [{"key": "ca.crt", "path": "ca.crt"}]
    ca_mount = container["volumeMounts"][1]
    assert ca_mount["readOnly"] is True and config["PGSSLROOTCERT"] == ca_mount["mountPath"] + "/ca.crt"

    # TLS, mutual TLS and tokens: each Secret mounted whole (a renewed certificate
    # reaches the pod), at the paths the ConfigMap gives docgate.
    volumes = {v["name"]: v["secret"] for v in pod["spec"]["volumes"] if "secret" in v}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert volumes["tls"] == {"secretName": "docgate-tls", "defaultMode": 0o400}
    assert "subPath" not in mounts["tls"] and mounts["tls"]["readOnly"] is True
    assert config["DOCGATE_TLS_CERT"] == mounts["tls"]["mountPath"] + "/tls.crt"
    assert config["DOCGATE_TLS_KEY"] == mounts["tls"]["mountPath"] + "/tls.key"
    assert volumes["client-ca"]["secretName"] == "workers-ca"
    assert config["DOCGATE_TLS_CLIENT_CA"] == mounts["client-ca"]["mountPath"] + "/ca.crt"
    assert volumes["auth-tokens"]["secretName"] == "docgate-tokens"
    assert config["DOCGATE_AUTH_TOKENS_FILE"] == mounts["auth-tokens"]["mountPath"] + "/tokens"
    assert volumes["broker-password"] == {"secretName": "redis-password", "defaultMode": 0o400,
                                          "items": [{"key": "redis-password", "path": "redis-password"}]}
    assert config["DOCGATE_BROKER_PASSWORD_FILE"] == mounts["broker-password"]["mountPath"] + "/redis-password"
    assert config["DOCGATE_BROKER_URL"] == "redis://redis-master.queues:6379/0"
    assert config["DOCGATE_OUTBOX_POLL_INTERVAL"] == "500ms"
    assert config["DOCGATE_HEALTH_LISTEN"] == "0.0.0.0:8081"
    assert config["DOCGATE_CREDENTIALS_RELOAD_INTERVAL"] == "30s" and config["DOCGATE_MAX_CONCURRENT_STREAMS"] == "256"

    services = {s["metadata"]["name"]: s["spec"] for s in kinds["Service"]}
    assert services["test-docgate-headless"]["clusterIP"] == "None"
    assert services["test-docgate"]["type"] == "LoadBalancer"
    assert "up to 200 connections" in rendered["notes"]  # maxReplicas 8 x (pool.max 24 + 1)
    assert "client certificates required" in rendered["notes"] and "Bearer TOKEN" in rendered["notes"]
    assert "docgatectl --addr 127.0.0.1:8081 health" in rendered["notes"]  # probes' port: no TLS needed


def test_tls_defaults_mutual_tls_from_the_tls_secret_and_refuses_mtls_without_tls(tools, tmp_path):
    plain = by_kind(render(tools))
    container = plain["Deployment"][0]["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["grpc"]["port"] == 50051, "without TLS, probes ask the gRPC port"
    assert not any(k.startswith("DOCGATE_TLS") for k in plain["ConfigMap"][0]["data"])

    same_secret = tmp_path / "mtls.yaml"
    same_secret.write_text("tls:\n  secretName: docgate-tls\n  clientCA:\n    enabled: true\n")
    kinds = by_kind(render(tools, same_secret))
    pod = kinds["Deployment"][0]["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["database-password", "tls"], "ca.crt comes from the TLS Secret"
    assert kinds["ConfigMap"][0]["data"]["DOCGATE_TLS_CLIENT_CA"] == "/var/run/secrets/docgate/tls/ca.crt"

    no_tls = tmp_path / "mtls-without-tls.yaml"
    no_tls.write_text("tls:\n  clientCA:\n    enabled: true\n")
    with pytest.raises(RuntimeError, match="mutual TLS is TLS first"):
        render(tools, no_tls)


def test_the_chart_configures_docgate_with_variables_it_knows_and_probes_names_it_serves(
        tools, docgate_bin, database_url, start_docgate):
    config = configmap(render(tools, ALL_ON), "test-docgate")["data"]
    help_text = subprocess.run([docgate_bin, "--help"], capture_output=True, text=True, check=True).stdout
    for name in config:
        if name != "DATABASE_URL" and not name.startswith("PG"):  # PG*: libpq's own variables
            assert name in help_text, f"docgate knows no {name}"
    # A list docgate splits on spaces.
    assert config["DOCGATE_REPLICA_URLS"].split(" ") == [
        "postgresql://docgate@db-replica-1.example.com:5432/docgate?sslmode=verify-full",
        "postgresql://docgate@db-replica-2.example.com:5432/docgate?sslmode=verify-full"]
    d = start_docgate(database_url)
    wait_for(lambda: d.health("liveness") == "SERVING", 20, what="the liveness health name served")
    wait_for(lambda: d.health("docgate.v1.DocumentService") == "SERVING", 20, what="the readiness name served")


def test_the_runtime_configuration_is_a_file_docgate_accepts_and_changing_it_restarts_no_pod(
        tools, docgate_bin, tmp_path):
    rendered = render(tools, ALL_ON)
    runtime = json.loads(configmap(rendered, "test-docgate-runtime")["data"]["docgate.json"])
    assert runtime["admission"]["callers"]["backfill"]["max_running"] == 4
    assert configmap(rendered, "test-docgate")["data"]["DOCGATE_CONFIG"] == "/etc/docgate/runtime/docgate.json"
    pod = by_kind(rendered)["Deployment"][0]["spec"]["template"]
    mount = next(m for m in pod["spec"]["containers"][0]["volumeMounts"] if m["name"] == "runtime-config")
    assert mount["mountPath"] == "/etc/docgate/runtime" and "subPath" not in mount  # updates reach the pod
    volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "runtime-config")
    assert volume["configMap"]["name"] == "test-docgate-runtime"
    # docgate's own validation accepts what the chart renders.
    path = tmp_path / "docgate.json"
    path.write_text(configmap(rendered, "test-docgate-runtime")["data"]["docgate.json"])
    check = subprocess.run([docgate_bin, "--check-config", f"--config={path}"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "pool-max = 24" in check.stdout and "caller.backfill = weight=1 max_running=4" in check.stdout
    # A changed runtime configuration leaves the pod template (and so the pods) as they are.
    changed = tmp_path / "changed.yaml"
    changed.write_text("runtimeConfig:\n  pool:\n    max: 8\n")
    assert by_kind(render(tools, ALL_ON, changed))["Deployment"][0]["spec"]["template"] == pod
    # Off by default: no file, no ConfigMap, no mount.
    defaults = render(tools)
    assert not any(o["metadata"]["name"] == "test-docgate-runtime" for o in defaults["objects"])
    assert "DOCGATE_CONFIG" not in configmap(defaults, "test-docgate")["data"]


DASHBOARD = CHART / "dashboards" / "docgate.json"


def rule_object(rendered):
    return next(o for o in rendered["objects"] if o["kind"] == "PrometheusRule")


def test_the_dashboard_and_the_alert_rules_are_there_only_when_asked_for(tools, tmp_path):
    kinds = by_kind(render(tools))
    assert "PrometheusRule" not in kinds
    assert not any(o["metadata"]["name"].endswith("-dashboard") for o in kinds["ConfigMap"])
    rendered = render(tools, ALL_ON)
    dashboard = configmap(rendered, "test-docgate-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"  # what Grafana's sidecar looks for
    assert dashboard["metadata"]["namespace"] == "monitoring"
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "Databases"}
    assert json.loads(dashboard["data"]["docgate.json"]) == json.loads(DASHBOARD.read_text())
    rule = rule_object(rendered)
    assert rule["metadata"]["labels"]["release"] == "prometheus"
    alerts = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    assert set(alerts) == {"DocgateDatabaseDown", "DocgateCircuitOpen", "DocgatePoolSaturated",
                           "DocgateAcquireWaitHigh", "DocgateWaitersNearLimit", "DocgateReplicaOutOfRotation",
                           "DocgateReplicaLagging", "DocgateErrorRatioHigh", "DocgateDocumentsDeadLettered",
                           "DocgatePrimaryMoved"}
    readme = (CHART / "README.md").read_text()
    for name, r in alerts.items():
        assert r["annotations"]["runbook_url"].endswith("README.md#" + name.lower())
        assert f"### {name}" in readme, f"{name} has no runbook in the chart's README"
    # Thresholds and durations come from the values; the sidecar label can be another.
    tuned = tmp_path / "tuned.yaml"
    tuned.write_text("grafanaDashboard: {enabled: true, labels: {my_dashboards: 'yes'}}\n"
                     "prometheusRule:\n  enabled: true\n  runbookUrl: ''\n  rateWindow: 2m\n  alerts:\n"
                     "    acquireWaitHigh: {for: 3m, seconds: 0.25}\n")
    rendered = render(tools, tuned)
    labels = configmap(rendered, "test-docgate-dashboard")["metadata"]["labels"]
    assert labels["my_dashboards"] == "yes"
    alerts = {r["alert"]: r for r in rule_object(rendered)["spec"]["groups"][0]["rules"]}
    wait = alerts["DocgateAcquireWaitHigh"]
    assert wait["for"] == "3m" and "[2m]" in wait["expr"] and wait["expr"].rstrip().endswith("> 0.25")
    assert alerts["DocgateDatabaseDown"]["for"] == "1m"  # the others keep their defaults
    assert not any("runbook_url" in r["annotations"] for r in alerts.values())


def test_promtool_accepts_the_rendered_alert_rules(tools, tmp_path):
    rules = tmp_path / "rules.yml"
    rules.write_text(json.dumps(rule_object(render(tools, ALL_ON))["spec"]))  # JSON is YAML
    check = subprocess.run([shutil.which("promtool") or "/usr/bin/promtool", "check", "rules", str(rules)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "SUCCESS: 10 rules found" in check.stdout


def test_every_dashboard_panel_has_a_unit_and_follows_the_template_variables():
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert {"namespace", "instance"} <= set(variables)
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert len(panels) >= 20
    for p in panels:
        assert p["fieldConfig"]["defaults"].get("unit"), f"{p['title']} has no unit"
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${datasource}", p["title"]
            for selector in re.findall(r"\b[a-z_]+\{[^}]*\}", t["expr"]):
                assert 'namespace=~"$namespace"' in selector and 'instance=~"$instance"' in selector, \
                    (p["title"], selector)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
