"""Prometheus and Grafana provisioning point at the services and at metrics the code exports."""

from __future__ import annotations

import json
import re

from shared.settings import DEFAULT_PORTS, SERVICES
from tests.deploy.manifests import DEPLOY, ROOT, load_all

OBS = DEPLOY / "observability"
PROMQL_FUNCTIONS = {
    "sum",
    "max",
    "min",
    "by",
    "rate",
    "increase",
    "histogram_quantile",
    "le",
    "service",
    "status",
    "topic",
}


def exported_metric_names() -> set[str]:
    """Series names the Python code registers, with the suffixes prometheus_client adds."""
    names: set[str] = set()
    for path in [*(ROOT / "shared").rglob("*.py"), *(ROOT / "services").rglob("*.py")]:
        text = path.read_text(encoding="utf-8")
        for kind, name in re.findall(
            r"\b(Counter|Gauge|Histogram|Summary)\(\s*\"([a-z_:]+)\"", text
        ):
            suffixes = {
                "Counter": ["_total"],
                "Gauge": [""],
                "Histogram": ["_bucket", "_sum", "_count"],
                "Summary": ["_sum", "_count"],
            }
            names.update(name + s for s in suffixes[kind])
    return names


def test_prometheus_scrapes_each_service_at_its_port_and_metrics_path() -> None:
    (config,) = load_all(OBS / "prometheus.yml")
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    targets = {sc["labels"]["service"]: sc["targets"] for sc in job["static_configs"]}
    assert targets == {s: [f"{s}:{DEFAULT_PORTS[s]}"] for s in SERVICES}


def test_grafana_provisions_the_compose_prometheus_and_the_dashboard_folder() -> None:
    (compose,) = load_all(ROOT / "docker-compose.yml")
    (ds,) = load_all(OBS / "grafana/provisioning/datasources/prometheus.yml")[0]["datasources"]
    assert ds["url"] == "http://prometheus:9090" and "prometheus" in compose["services"]
    (provider,) = load_all(OBS / "grafana/provisioning/dashboards/skillsub.yml")[0]["providers"]
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/observability/grafana/dashboards:{provider['options']['path']}:ro" in mounts


def test_dashboard_queries_only_metrics_the_services_export() -> None:
    dashboard = json.loads((OBS / "grafana/dashboards/skillsub-overview.json").read_text("utf-8"))
    (ds,) = load_all(OBS / "grafana/provisioning/datasources/prometheus.yml")[0]["datasources"]
    exported = exported_metric_names()
    assert exported, "no metrics found in shared/ or services/"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == ds["uid"]
        for target in panel["targets"]:
            expr = re.sub(r"\[[0-9a-z]+\]|\"[^\"]*\"|\{[^}]*\}", "", target["expr"])
            used = set(re.findall(r"[a-z_:][a-z0-9_:]*", expr)) - PROMQL_FUNCTIONS
            assert used and used <= exported, (panel["title"], used - exported)


ALERTS = OBS / "alerts.yml"


def test_compose_prometheus_loads_the_alert_rules_kubernetes_gets_as_a_prometheus_rule() -> None:
    (config,) = load_all(OBS / "prometheus.yml")
    (compose,) = load_all(ROOT / "docker-compose.yml")
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    mount = "./deploy/observability/alerts.yml:/etc/prometheus/alerts.yml:ro"
    assert mount in compose["services"]["prometheus"]["volumes"]
    (rule,) = load_all(DEPLOY / "k8s" / "base" / "alerts.yaml")
    assert rule["spec"]["groups"] == load_all(ALERTS)[0]["groups"]


def test_there_is_an_alert_for_any_dead_letter_and_for_consumer_lag_on_exported_metrics() -> None:
    rules = {r["alert"]: r for g in load_all(ALERTS)[0]["groups"] for r in g["rules"]}
    assert {"SkillSubDeadLetter", "SkillSubConsumerLag", "SkillSubConsumerStalled"} <= set(rules)
    assert rules["SkillSubDeadLetter"]["expr"].endswith("> 0")  # any open dead letter, not a rate
    exported = exported_metric_names()
    for name, rule in rules.items():
        expr = re.sub(r"\[[0-9a-z]+\]|\"[^\"]*\"|\{[^}]*\}|\([a-z, ]+\)|\b\d+\b", " ", rule["expr"])
        used = set(re.findall(r"[a-z_:][a-z0-9_:]*", expr)) - PROMQL_FUNCTIONS - {"and", "on", "delta"}
        assert used and used <= exported, (name, used - exported)


def test_the_alert_rules_pass_promtool_and_fire_when_they_should() -> None:
    import shutil
    import subprocess

    import pytest

    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (scripts/test-deps.sh installs Debian's prometheus)")
    check = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    tests = ROOT / "tests" / "deploy" / "alerts_test.yml"
    done = subprocess.run([promtool, "test", "rules", str(tests)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
