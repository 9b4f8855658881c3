"""The commands in the manifests parse with the real `skillsub` CLI, and each service's app serves
the paths the probes and the scraper use and consumes the topics its autoscaler is sized for."""

from __future__ import annotations

import argparse
import importlib

import pytest

from shared.settings import DEFAULT_PORTS, SERVICES, Settings
from tests.deploy.manifests import ROOT, Doc, by_kind, load_all
from tests.deploy.test_k8s_consistency import CONSUMES

cli = pytest.importorskip("shared.cli", reason="the skillsub CLI is not written yet")


def all_commands(rendered: tuple[Doc, ...]) -> list[list[str]]:
    (compose,) = load_all(ROOT / "docker-compose.yml")
    workloads = [*by_kind(rendered, "Deployment").values(), *by_kind(rendered, "Job").values()]
    k8s = [w["spec"]["template"]["spec"]["containers"][0]["command"] for w in workloads]
    return k8s + [
        s["command"]
        for s in compose["services"].values()
        if s.get("command", [""])[0] == "skillsub"
    ]


def test_every_command_parses_with_the_skillsub_cli_and_listens_beyond_loopback(
    rendered: tuple[Doc, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[argparse.Namespace] = []
    monkeypatch.setattr(cli, "cmd_serve", lambda args: seen.append(args) or 0)
    monkeypatch.setattr(cli, "cmd_migrate", lambda args: seen.append(args) or 0)
    for command in all_commands(rendered):
        assert cli.main(command[1:]) == 0
        args = seen[-1]
        assert args.service in SERVICES
        if args.command == "serve":
            assert args.host == "0.0.0.0"
            assert args.port in (None, DEFAULT_PORTS[args.service])
    assert {a.command for a in seen} == {"serve", "migrate"}


@pytest.mark.parametrize("service", SERVICES)
def test_each_app_serves_the_probe_and_metrics_paths_and_consumes_the_expected_topics(
    service: str,
) -> None:
    app = importlib.import_module(f"services.{service}.main").create_app(Settings())
    paths = set(app.openapi()["paths"])
    assert {"/healthz", "/readyz", "/metrics"} <= paths
    assert tuple(app.state.runtime.spec.consumes) == CONSUMES[service]
