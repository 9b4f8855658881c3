"""The Dockerfile builds one non-root image that runs the services the way the manifests say."""

from __future__ import annotations

import re
import tomllib

from shared.settings import DEFAULT_PORTS
from tests.deploy.manifests import ROOT
from tests.deploy.settings_check import settings_env_names

# Variables for the interpreter and the shell, not for the settings.
RUNTIME_VARS = {
    "PATH",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "PIP_NO_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK",
}


def stages() -> list[list[str]]:
    """Instructions per stage, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    result: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            result.append([])
        if result:
            result[-1].append(line)
    return result


def test_the_final_stage_runs_as_a_numeric_non_root_user_without_build_tools() -> None:
    final = stages()[-1]
    users = [ln.split()[1] for ln in final if ln.startswith("USER ")]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    assert not any("apt-get install" in ln or "gcc" in ln or "pip install" in ln for ln in final)
    assert any(ln.startswith("COPY --from=build") for ln in final)
    assert len(stages()) >= 2


def test_the_image_command_is_the_console_script_and_it_exists() -> None:
    final = stages()[-1]
    (cmd,) = [ln for ln in final if ln.startswith("CMD ")]
    assert cmd.startswith('CMD ["skillsub", "serve", ') and '"--host", "0.0.0.0"' in cmd
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "skillsub" in scripts


def test_the_image_exposes_the_service_ports() -> None:
    (expose,) = [ln for ln in stages()[-1] if ln.startswith("EXPOSE ")]
    assert sorted(int(p) for p in expose.split()[1:]) == sorted(DEFAULT_PORTS.values())


def test_environment_the_image_sets_is_read_by_the_settings() -> None:
    env_lines = " ".join(ln[4:] for ln in stages()[-1] if ln.startswith("ENV "))
    names = set(re.findall(r"([A-Z_][A-Z0-9_]*)=", env_lines))
    assert "SKILLSUB_DATA_DIR" in names
    assert names - RUNTIME_VARS <= settings_env_names()


def test_what_the_dockerfile_copies_is_not_excluded_by_dockerignore() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    ignore = [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]
    assert ignore[0] == "**"  # everything out by default: no .venv, .git, .env or test data
    allowed = {p.lstrip("!").rstrip("/") for p in ignore if p.startswith("!")}
    copied = set()
    for stage in stages():
        for ln in stage:
            if ln.startswith("COPY ") and "--from=" not in ln:
                copied.update(p.rstrip("/").lstrip("./") for p in ln.split()[1:-1])
    assert copied == allowed
