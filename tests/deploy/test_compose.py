"""deploy/compose.yaml: the production-like stack on one machine."""

from __future__ import annotations

import re
import subprocess
from typing import Any
from urllib.parse import urlsplit

import jsonschema  # type: ignore[import-untyped]
import pytest

from . import manifests as m

COMPOSE = m.compose()
SERVICES: dict[str, Any] = COMPOSE["services"]


def _depends_on(service: str) -> dict[str, str]:
    depends = SERVICES[service]["depends_on"]
    assert isinstance(depends, dict), f"{service}: use depends_on with conditions"
    return {name: spec["condition"] for name, spec in depends.items()}


def _duration_seconds(value: str) -> float:
    total = 0.0
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", value):
        total += float(amount) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def test_stack_members() -> None:
    assert set(SERVICES) == {
        "kafka",
        "kafka-topics",
        "postgres",
        "mailpit",
        *m.SERVICES,
    }


def test_images_are_pinned() -> None:
    for name, spec in SERVICES.items():
        image = spec["image"]
        assert ":" in image, f"{name}: pin {image}"
        assert not image.endswith(":latest"), f"{name}: pin {image}"
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:")
    assert SERVICES["kafka-topics"]["image"] == SERVICES["kafka"]["image"]
    assert SERVICES["postgres"]["image"].split(":")[1].split(".")[0].startswith("15")
    assert SERVICES["mailpit"]["image"].startswith("axllent/mailpit:")


def test_kafka_runs_kraft_without_auto_creation() -> None:
    env = SERVICES["kafka"]["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["CLUSTER_ID"]
    assert "ZOOKEEPER" not in " ".join(env)
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]


@pytest.mark.parametrize("service", m.SERVICES)
def test_service_container(service: str) -> None:
    spec = SERVICES[service]
    assert spec["command"] == ["python", "-m", f"boxoffice.{service}"]
    assert spec["build"]["dockerfile"] == "deploy/docker/Dockerfile"
    assert (m.DEPLOY / spec["build"]["context"] / spec["build"]["dockerfile"]).is_file()
    assert spec["image"] == SERVICES[m.SERVICES[0]]["image"], "one image for all services"
    assert "jwt_secret" in spec["secrets"]
    # Graceful stop: longer than the broker session timeout and uvicorn's 20 s drain.
    session_timeout = m.setting_default(service, "kafka_session_timeout_ms") / 1000
    assert _duration_seconds(spec["stop_grace_period"]) > max(session_timeout, 20)


@pytest.mark.parametrize("service", m.SERVICES)
def test_service_depends_on_healthy_infrastructure(service: str) -> None:
    depends = _depends_on(service)
    assert depends["postgres"] == "service_healthy"
    assert depends["kafka"] == "service_healthy"
    assert depends["kafka-topics"] == "service_completed_successfully"
    if service == "notifications":
        assert depends["mailpit"] == "service_healthy"
    assert _depends_on("kafka-topics") == {"kafka": "service_healthy"}


def test_every_long_running_member_has_a_healthcheck() -> None:
    for name, spec in SERVICES.items():
        if name == "kafka-topics":
            assert spec["restart"] == "no"
            continue
        assert spec["healthcheck"]["test"], name


@pytest.mark.parametrize("service", m.SERVICES)
def test_service_healthcheck_and_port(service: str) -> None:
    spec = SERVICES[service]
    env = m.compose_environment(service)
    port = env.get(f"{m.env_prefix(service)}HTTP_PORT") or str(
        m.setting_default(service, "http_port")
    )
    assert spec["healthcheck"]["test"] == ["CMD", "python", "/app/healthcheck.py", "--port", port]
    assert _duration_seconds(spec["healthcheck"]["start_period"]) >= 60
    published = {p.rsplit(":", 1)[-1] for p in spec["ports"]}
    assert published == {port}
    assert all(p.startswith("127.0.0.1:") for p in spec["ports"]), "local stack: loopback only"


def test_one_database_per_service() -> None:
    postgres = SERVICES["postgres"]
    created = m.words(m.interpolate(postgres["environment"]["APP_DATABASES"]))
    assert sorted(created) == sorted(m.SERVICES)
    mounts = [str(v) for v in postgres["volumes"]]
    assert any(
        v.startswith("./postgres/init-databases.sh:/docker-entrypoint-initdb.d/") for v in mounts
    )
    assert (m.DEPLOY / "postgres" / "init-databases.sh").is_file()
    password = m.interpolate(postgres["environment"]["APP_DATABASE_PASSWORD"])
    for service in m.SERVICES:
        url = urlsplit(m.compose_environment(service)[f"{m.env_prefix(service)}DATABASE_URL"])
        assert url.scheme == "postgresql+asyncpg"
        assert url.hostname == "postgres"
        assert url.username == service, "each service logs in with its own role"
        assert url.password == password
        assert url.path == f"/{service}", "each service has its own database"


def test_postgres_healthcheck_waits_for_init() -> None:
    # The init phase's temporary server listens on the Unix socket only: check over TCP.
    test = " ".join(SERVICES["postgres"]["healthcheck"]["test"])
    assert "pg_isready" in test
    assert "127.0.0.1" in test


def test_notifications_send_to_mailpit() -> None:
    env = m.compose_environment("notifications")
    prefix = m.env_prefix("notifications")
    assert env[f"{prefix}SMTP_HOST"] == "mailpit"
    assert env[f"{prefix}SMTP_PORT"] == "1025"
    assert any(p.endswith(":8025") for p in SERVICES["mailpit"]["ports"])


def test_jwt_secret_is_a_compose_secret_kept_out_of_git() -> None:
    secret = COMPOSE["secrets"]["jwt_secret"]
    path = m.DEPLOY / secret["file"]
    assert path.parent == m.DEPLOY / "secrets"
    ignore = (path.parent / ".gitignore").read_text(encoding="utf-8").split()
    assert "*" in ignore


def test_topic_init_creates_every_topic() -> None:
    spec = SERVICES["kafka-topics"]
    env = {k: m.interpolate(str(v)) for k, v in spec["environment"].items()}
    topics = m.words(env["TOPICS"])
    dlqs = m.words(env["DLQ_TOPICS"])
    assert len(topics + dlqs) == len(set(topics + dlqs))
    assert set(topics) == m.contract_topics()
    assert set(topics) | set(dlqs) == m.expected_topics()
    assert all(t.endswith(".dlq") for t in dlqs)
    assert env["PARTITIONS"] == str(m.PARTITIONS)
    assert env["BOOTSTRAP_SERVERS"] == "kafka:9092"
    script = "\n".join(spec["command"])
    assert "kafka-topics.sh" in script
    assert "--if-not-exists" in script
    for variable in ("TOPICS", "DLQ_TOPICS", "PARTITIONS", "REPLICATION_FACTOR"):
        assert f"$${variable}" in script, f"the script must use {variable}"


def test_topic_init_script_escapes_dollars() -> None:
    # Compose interpolates $VAR in the file itself; the shell's variables are written $$VAR.
    script = "\n".join(SERVICES["kafka-topics"]["command"])
    assert re.search(r"(?<!\$)\$(?!\$)", script.replace("$$", "")) is None


@pytest.mark.parametrize("service", m.SERVICES)
def test_service_partitions_match_topics(service: str) -> None:
    env = m.compose_environment(service)
    partitions = env.get(f"{m.env_prefix(service)}KAFKA_PARTITIONS") or str(
        m.setting_default(service, "kafka_partitions")
    )
    assert partitions == str(m.PARTITIONS)
    replication = env[f"{m.env_prefix(service)}KAFKA_REPLICATION_FACTOR"]
    assert replication == SERVICES["kafka-topics"]["environment"]["REPLICATION_FACTOR"]


def test_topic_init_script_is_valid_bash() -> None:
    spec = SERVICES["kafka-topics"]
    assert spec["entrypoint"][0] == "/bin/bash"
    script = m.interpolate("\n".join(spec["command"]))
    result = subprocess.run(
        ["bash", "-n", "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr


_DURATION = {"type": "string", "pattern": r"^(\d+(\.\d+)?(h|m|s|ms|us))+$"}
_STRINGS = {"type": "array", "items": {"type": "string"}}
_HEALTHCHECK = {
    "type": "object",
    "required": ["test"],
    "properties": {
        "test": {"oneOf": [{"type": "string"}, _STRINGS]},
        "interval": _DURATION,
        "timeout": _DURATION,
        "start_period": _DURATION,
        "start_interval": _DURATION,
        "retries": {"type": "integer", "minimum": 1},
        "disable": {"type": "boolean"},
    },
    "additionalProperties": False,
}
_SERVICE = {
    "type": "object",
    "required": ["image"],
    "properties": {
        "image": {"type": "string"},
        "build": {
            "type": "object",
            "required": ["context"],
            "properties": {"context": {"type": "string"}, "dockerfile": {"type": "string"}},
            "additionalProperties": False,
        },
        "command": _STRINGS,
        "entrypoint": _STRINGS,
        "hostname": {"type": "string"},
        "restart": {"enum": ["no", "always", "on-failure", "unless-stopped"]},
        "environment": {
            "type": "object",
            "additionalProperties": {"type": ["string", "integer", "number", "boolean"]},
        },
        "ports": _STRINGS,
        "volumes": _STRINGS,
        "secrets": _STRINGS,
        "depends_on": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["condition"],
                "properties": {
                    "condition": {
                        "enum": [
                            "service_started",
                            "service_healthy",
                            "service_completed_successfully",
                        ]
                    },
                    "restart": {"type": "boolean"},
                    "required": {"type": "boolean"},
                },
                "additionalProperties": False,
            },
        },
        "healthcheck": _HEALTHCHECK,
        "stop_grace_period": _DURATION,
        "read_only": {"type": "boolean"},
        "tmpfs": _STRINGS,
        "cap_drop": _STRINGS,
        "security_opt": _STRINGS,
    },
    "additionalProperties": False,
}
COMPOSE_SUBSET_SCHEMA = {
    "type": "object",
    "required": ["services"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]*$"},
        "services": {"type": "object", "additionalProperties": _SERVICE},
        "secrets": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {"file": {"type": "string"}, "environment": {"type": "string"}},
                "additionalProperties": False,
            },
        },
        "volumes": {"type": "object", "additionalProperties": {"type": ["object", "null"]}},
    },
    "patternProperties": {"^x-": {}},
    "additionalProperties": False,
}


def test_compose_keys_are_known() -> None:
    """The compose-spec keys this file uses, with their types: a misspelt key fails here.

    A subset of the Compose Specification (no engine here to run ``docker compose config``).
    """
    resolved = {k: v for k, v in COMPOSE.items() if not k.startswith("x-")}
    jsonschema.Draft202012Validator(COMPOSE_SUBSET_SCHEMA).validate(resolved)
    misspelt = {**SERVICES["kafka"], "healthchek": {}}
    broken = {**resolved, "services": {**SERVICES, "kafka": misspelt}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, COMPOSE_SUBSET_SCHEMA)
    for name, secret in COMPOSE["secrets"].items():
        assert all(name in SERVICES[s]["secrets"] for s in m.SERVICES)
        assert "file" in secret


def test_operations_document_the_compose_path() -> None:
    operations = (m.REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    assert "docker compose -f deploy/compose.yaml up" in operations
    assert "kubectl apply -k deploy/k8s" in operations
