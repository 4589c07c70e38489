"""deploy/docker: the image's build steps, its build context and its two scripts.

There is no Docker engine here: the Dockerfile is parsed, the .dockerignore is evaluated
with Docker's matching rules, and the entrypoint and health check scripts are run as the
image runs them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType

import pytest

from . import manifests as m

ENTRYPOINT = m.DEPLOY / "docker" / "entrypoint.py"
HEALTHCHECK = m.DEPLOY / "docker" / "healthcheck.py"


# --- Dockerfile -------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    arguments: str


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [i.arguments for i in self.instructions if i.keyword == keyword]


def _instructions(text: str) -> Iterator[Instruction]:
    logical = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        keyword, _, arguments = logical.partition(" ")
        yield Instruction(keyword.upper(), " ".join(arguments.split()))
        logical = ""
    assert not logical, "the Dockerfile ends inside a continued line"


def _stages() -> tuple[dict[str, str], list[Stage]]:
    """Global ARG defaults and the stages, with ARGs in FROM resolved."""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for instruction in _instructions(m.DOCKERFILE.read_text(encoding="utf-8")):
        if instruction.keyword == "ARG" and not stages:
            name, _, default = instruction.arguments.partition("=")
            args[name] = default
        elif instruction.keyword == "FROM":
            words = instruction.arguments.split()
            base = re.sub(r"\$\{(\w+)\}", lambda g: args[g.group(1)], words[0])
            alias = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base, alias))
        else:
            assert stages or instruction.keyword == "ARG", f"{instruction} before FROM"
            stages[-1].instructions.append(instruction)
    return args, stages


ARGS, STAGES = _stages()
RUNTIME = STAGES[-1]


def _copy_sources(stage: Stage) -> list[str]:
    """The build-context sources of a stage's COPY instructions."""
    sources: list[str] = []
    for arguments in stage.all("COPY"):
        words = arguments.split()
        if any(w.startswith("--from=") for w in words):
            continue
        paths = [w for w in words if not w.startswith("--")]
        sources.extend(paths[:-1])
    return sources


def _workspace() -> dict[str, object]:
    with (m.REPO / "pyproject.toml").open("rb") as stream:
        return tomllib.load(stream)


def _member_dirs() -> list[str]:
    workspace = _workspace()["tool"]
    assert isinstance(workspace, dict)
    members = workspace["uv"]["workspace"]["members"]
    assert isinstance(members, list)
    return [str(member) for member in members]


def _package_name(service: str) -> str:
    with (m.REPO / "services" / service / "pyproject.toml").open("rb") as stream:
        name = tomllib.load(stream)["project"]["name"]
    assert isinstance(name, str)
    return name


def test_multi_stage() -> None:
    assert len(STAGES) >= 2
    copied_from = {
        word.removeprefix("--from=")
        for arguments in RUNTIME.all("COPY")
        for word in arguments.split()
        if word.startswith("--from=")
    }
    builders = {stage.name for stage in STAGES[:-1]}
    assert copied_from, "the runtime copies from a build stage"
    assert copied_from <= builders
    assert not [a for a in RUNTIME.all("RUN") if "uv " in a], "nothing built at run time"
    assert not [a for a in RUNTIME.all("COPY") if "--from=uv" in a], "no uv at run time"


def test_python_311_slim_and_pinned_uv() -> None:
    python_stages = [s for s in STAGES if s.base.startswith("python:")]
    assert python_stages
    assert all(s.base.startswith("python:3.11-slim") for s in python_stages)
    assert RUNTIME.base.startswith("python:3.11-slim")
    makefile = (m.REPO / "Makefile").read_text(encoding="utf-8")
    match = re.search(r"^UV_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert match is not None
    assert any(s.base == f"ghcr.io/astral-sh/uv:{match.group(1)}" for s in STAGES)
    assert match.group(1) == "0.13.9"


def test_runs_as_non_root() -> None:
    users = RUNTIME.all("USER")
    assert users, "the runtime stage must set USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    # Numeric, so Kubernetes can check runAsNonRoot; the manifests use the same id.
    assert user.isdigit()
    for deployment in m.of_kind("Deployment"):
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(user)


def test_installs_the_three_services_and_the_operator_tools_from_the_lock() -> None:
    syncs = [a for s in STAGES for a in s.all("RUN") if "uv sync" in a]
    assert syncs
    for command in syncs:
        assert "--frozen" in command
        assert "--no-dev" in command
        packages = set(re.findall(r"--package (\S+)", command))
        assert packages == {_package_name(service) for service in m.SERVICES} | {"boxoffice-ops"}
    assert any("--no-editable" in command for command in syncs), "the runtime has no sources"


def test_copies_every_workspace_member() -> None:
    (builder,) = [stage for stage in STAGES if stage.name == "builder"]
    sources = {s.rstrip("/") for s in _copy_sources(builder)}
    assert {"pyproject.toml", "uv.lock"} <= sources
    for member in _member_dirs():
        assert f"{member}/pyproject.toml" in sources, f"{member}: uv needs its pyproject.toml"
        top = member.split("/")[0]
        assert top in sources, f"{member}: sources not copied"


def test_healthcheck_and_entrypoint() -> None:
    (healthcheck,) = RUNTIME.all("HEALTHCHECK")
    assert "/app/healthcheck.py" in healthcheck
    assert "/health/live" in HEALTHCHECK.read_text(encoding="utf-8")
    (entrypoint,) = RUNTIME.all("ENTRYPOINT")
    assert json.loads(entrypoint) == ["python", "/app/entrypoint.py"]
    assert not RUNTIME.all("CMD"), "the command names the service; there is no default"
    exposed = {int(p) for a in RUNTIME.all("EXPOSE") for p in a.split()}
    assert exposed == {m.setting_default(s, "http_port") for s in m.SERVICES}


# --- build context ----------------------------------------------------------------------------


def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex (Go filepath.Match plus ``**``)."""
    regex, i = "", 0
    while i < len(pattern):
        char = pattern[i]
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
            continue
        if pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
            continue
        if char == "*":
            regex += "[^/]*"
        elif char == "?":
            regex += "[^/]"
        elif char == "[":
            end = pattern.index("]", i)
            regex += pattern[i : end + 1]
            i = end
        else:
            regex += re.escape(char)
        i += 1
    return re.compile(regex)


def _ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in m.DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        cleaned = os.path.normpath(line.removeprefix("!").strip()).lstrip("/")
        rules.append((negated, _pattern(cleaned)))
    return rules


RULES = _ignore_rules()


def in_context(path: str) -> bool:
    """Whether the build context holds ``path`` (relative to the repository root).

    As Docker does: the last pattern matching the path or one of its parents decides.
    """
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for negated, pattern in RULES:
        if any(pattern.fullmatch(candidate) for candidate in candidates):
            included = negated
    return included


def _repository_files() -> list[str]:
    result = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=m.REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 0:
        return [line for line in result.stdout.splitlines() if (m.REPO / line).is_file()]
    return [str(p.relative_to(m.REPO)) for p in m.REPO.rglob("*") if p.is_file()]


def test_dockerignore_matcher() -> None:
    assert in_context("uv.lock")
    assert in_context("libs/chassis/src/boxoffice/chassis/settings.py")
    assert not in_context("libs/chassis/tests/test_outbox.py")
    assert not in_context(
        "services/inventory/src/boxoffice/inventory/__pycache__/app.cpython-311.pyc"
    )
    assert not in_context(".venv/bin/python")
    assert not in_context(".git/config")
    assert not in_context("deploy/compose.yaml")
    assert not in_context("README.md")


def test_build_context_holds_what_the_dockerfile_copies() -> None:
    files = _repository_files()
    context = [f for f in files if in_context(f)]
    for source in {s for stage in STAGES for s in _copy_sources(stage)}:
        prefix = source.rstrip("/")
        assert (m.REPO / prefix).exists(), f"COPY {source}: no such path"
        assert any(f == prefix or f.startswith(prefix + "/") for f in context), (
            f"COPY {source}: left out by the .dockerignore"
        )
    for service in m.SERVICES:
        package = f"services/{service}/src/boxoffice/{service}/"
        shipped = [f for f in context if f.startswith(package)]
        assert f"{package}__main__.py" in shipped
        assert any("/migrations/versions/" in f for f in shipped), f"{service}: migrations"
        assert all(in_context(f) for f in files if f.startswith(package) and "__pycache__" not in f)
    assert not [f for f in context if "/tests/" in f or f.startswith(("tests/", ".venv/"))]


# --- scripts ----------------------------------------------------------------------------------


def _run_entrypoint(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ENTRYPOINT), *args],
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


PRINT_ENV = [sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"]


def test_entrypoint_resolves_file_variables(tmp_path: Path) -> None:
    secret = tmp_path / "jwt_secret"
    secret.write_text("s3cret-value\n", encoding="utf-8")
    result = _run_entrypoint(
        PRINT_ENV,
        {"BOXOFFICE_INVENTORY_JWT_SECRET_FILE": str(secret), "OTHER_FILE": "/nonexistent"},
    )
    assert result.returncode == 0, result.stderr
    env = json.loads(result.stdout)
    assert env["BOXOFFICE_INVENTORY_JWT_SECRET"] == "s3cret-value"
    assert "BOXOFFICE_INVENTORY_JWT_SECRET_FILE" not in env
    assert env["OTHER_FILE"] == "/nonexistent", "only BOXOFFICE_* variables are resolved"


@pytest.mark.parametrize("case", ["both set", "missing file", "empty file"])
def test_entrypoint_refuses_bad_secrets(case: str, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("" if case == "empty file" else "s3cr3t-in-file", encoding="utf-8")
    env = {"BOXOFFICE_RESERVATIONS_JWT_SECRET_FILE": str(secret)}
    if case == "both set":
        env["BOXOFFICE_RESERVATIONS_JWT_SECRET"] = "s3cr3t-direct"
    if case == "missing file":
        env["BOXOFFICE_RESERVATIONS_JWT_SECRET_FILE"] = str(tmp_path / "absent")
    result = _run_entrypoint(PRINT_ENV, env)
    assert result.returncode == 78
    assert "BOXOFFICE_RESERVATIONS_JWT_SECRET" in result.stderr
    assert "s3cr3t" not in result.stderr, "no secret in the logs"


def test_entrypoint_without_command_prints_usage() -> None:
    result = _run_entrypoint([], {})
    assert result.returncode == 64
    assert all(service in result.stderr for service in m.SERVICES)


def _load_healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("boxoffice_healthcheck", HEALTHCHECK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_healthcheck_finds_the_service_and_its_port() -> None:
    healthcheck = _load_healthcheck()
    cmdline = ["python", "/app/entrypoint.py", "python", "-m", "boxoffice.notifications"]
    assert healthcheck.service_from_cmdline(cmdline) == "notifications"
    assert healthcheck.service_from_cmdline(["python", "-m", "http.server"]) is None
    for service in m.SERVICES:
        default = m.setting_default(service, "http_port")
        assert healthcheck.health_url(service, {}) == f"http://127.0.0.1:{default}/health/live"
    prefix = m.env_prefix("inventory")
    env = {f"{prefix}HTTP_PORT": "9101", f"{prefix}HTTP_HOST": "0.0.0.0"}
    assert healthcheck.health_url("inventory", env) == "http://127.0.0.1:9101/health/live"
    env[f"{prefix}HTTP_HOST"] = "10.1.2.3"
    assert healthcheck.health_url("inventory", env) == "http://10.1.2.3:9101/health/live"
    assert healthcheck.health_url(None, {}, 8005) == "http://127.0.0.1:8005/health/live"


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health/live" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_healthcheck_probes_health_live() -> None:
    server = HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = str(server.server_address[1])
        command = [sys.executable, str(HEALTHCHECK), "--port"]
        healthy = subprocess.run([*command, port], capture_output=True, timeout=30, check=False)
        assert healthy.returncode == 0, healthy.stderr
    finally:
        server.shutdown()
        server.server_close()
    down = subprocess.run([*command, port], capture_output=True, timeout=30, check=False)
    assert down.returncode == 1
