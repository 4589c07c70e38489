"""Every BOXOFFICE_* variable in deploy/ is a real setting, and production has what it needs.

The Settings classes are imported at test time: fields added to a service show up here
without editing this file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from . import manifests as m

FILE_SUFFIX = "_FILE"
"""``<VARIABLE>_FILE`` names a file holding the value (resolved by deploy/docker/entrypoint.py)."""

REQUIRED_IN_PRODUCTION = ("environment", "jwt_secret", "database_url", "kafka_bootstrap_servers")
"""Set explicitly for every deployed service; the defaults are for development only."""

PRODUCTION_VALUES = {
    "environment": "production",
    "kafka_enable_idempotence": "true",
    "http_host": "0.0.0.0",
}


def _source_variables() -> Iterator[tuple[str, str, str]]:
    """(where, service container, variable) for every environment variable in deploy/."""
    compose = m.compose()
    for service, spec in compose["services"].items():
        for variable in spec.get("environment", {}) or {}:
            yield "compose.yaml", service, str(variable)
    for deployment in m.of_kind("Deployment"):
        service = deployment["metadata"]["name"]
        env = m.container_env(deployment)
        for variable in env.names():
            yield "k8s", service, variable
    for config_map in m.of_kind("ConfigMap"):
        owner = config_map["metadata"]["name"].removesuffix("-config")
        for variable in config_map.get("data", {}):
            yield f"k8s ConfigMap {config_map['metadata']['name']}", owner, variable


SOURCES = sorted(set(_source_variables()))
BOXOFFICE = [s for s in SOURCES if s[2].startswith("BOXOFFICE_")]


def test_variables_found() -> None:
    # The scan itself works: every service gets variables from compose and from k8s.
    for service in m.SERVICES:
        wheres = {where for where, owner, _ in BOXOFFICE if owner == service}
        assert "compose.yaml" in wheres, service
        assert "k8s" in wheres, service


@pytest.mark.parametrize(("where", "owner", "variable"), BOXOFFICE, ids=lambda v: str(v))
def test_variable_is_a_setting_of_its_service(where: str, owner: str, variable: str) -> None:
    service = m.service_of_variable(variable)
    assert service is not None, f"{where}: {variable} has no service prefix"
    assert service == owner, f"{where}: {variable} is set on {owner}, not {service}"
    name = variable.removesuffix(FILE_SUFFIX) if variable.endswith(FILE_SUFFIX) else variable
    settings = m.setting_variables(service)
    assert name in settings, (
        f"{where}: {variable} is not a field of boxoffice.{service}.settings.Settings "
        f"(known: {sorted(settings)})"
    )


def test_no_foreign_variables_on_services() -> None:
    # Containers of boxoffice services get only their own settings.
    for where, owner, variable in SOURCES:
        if owner in m.SERVICES:
            assert variable.startswith(f"BOXOFFICE_{owner.upper()}_"), (where, owner, variable)


def _compose_settings(service: str) -> dict[str, str]:
    """Field -> value compose sets (``_FILE`` variables count as set)."""
    variables = m.setting_variables(service)
    values: dict[str, str] = {}
    for variable, value in m.compose_environment(service).items():
        name = variable.removesuffix(FILE_SUFFIX)
        values[variables[name]] = value
    return values


def _k8s_settings(service: str) -> dict[str, str]:
    """Field -> value the Deployment sets (Secret references as ``<secret:name/key>``)."""
    variables = m.setting_variables(service)
    env = m.container_env(m.by_name("Deployment")[service])
    values = {variables[k]: v for k, v in {**env.from_config_maps, **env.literal}.items()}
    for variable, (secret, key, optional) in env.from_secrets.items():
        if not optional:
            values[variables[variable]] = f"<secret:{secret}/{key}>"
    return values


@pytest.mark.parametrize("service", m.SERVICES)
@pytest.mark.parametrize("target", ["compose", "k8s"])
def test_production_settings_are_provided(service: str, target: str) -> None:
    values = _compose_settings(service) if target == "compose" else _k8s_settings(service)
    for field in REQUIRED_IN_PRODUCTION:
        assert values.get(field), f"{target}: {service} must set {field}"
    for field, expected in PRODUCTION_VALUES.items():
        assert values[field] == expected, f"{target}: {service}.{field}"
    if target == "compose":
        assert values["database_url"].startswith("postgresql+asyncpg://")
        assert values["kafka_bootstrap_servers"] == "kafka:9092"
    # Required settings that have no default at all (added later by a service) must be set.
    for name, info in m.settings_class(service).model_fields.items():
        if info.is_required():
            assert name in values, f"{target}: {service} must set required field {name}"


def _example_secret_values() -> dict[tuple[str, str], str]:
    return {
        (secret["metadata"]["name"], key): str(value)
        for secret in m.iter_example_secrets()
        for key, value in {**secret.get("stringData", {}), **secret.get("data", {})}.items()
    }


@pytest.mark.parametrize("service", m.SERVICES)
def test_compose_environment_is_accepted_by_settings(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service would start with this environment (its validators run, e.g. mail_from)."""
    _isolate(service, monkeypatch)
    for variable, value in m.compose_environment(service).items():
        if variable.endswith(FILE_SUFFIX):
            variable, value = variable.removesuffix(FILE_SUFFIX), "compose-secret-" + "x" * 32
        monkeypatch.setenv(variable, value)
    settings = m.settings_class(service)()
    assert getattr(settings, "environment") == "production"  # noqa: B009 - BaseSettings
    assert getattr(settings, "kafka_enable_idempotence") is True  # noqa: B009


@pytest.mark.parametrize("service", m.SERVICES)
def test_k8s_environment_is_accepted_by_settings(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ConfigMap values plus the example Secrets make settings the service accepts."""
    _isolate(service, monkeypatch)
    env = m.container_env(m.by_name("Deployment")[service])
    secrets = _example_secret_values()
    for variable, value in {**env.from_config_maps, **env.literal}.items():
        monkeypatch.setenv(variable, value)
    for variable, (secret, key, _) in env.from_secrets.items():
        monkeypatch.setenv(variable, secrets[(secret, key)])
    settings = m.settings_class(service)()
    secret = getattr(settings, "jwt_secret")  # noqa: B009
    assert isinstance(secret, SecretStr)
    assert secret.get_secret_value() == secrets[("boxoffice-jwt", "secret")]


def _isolate(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """No BOXOFFICE_<SERVICE>_* variable of the test process leaks into Settings()."""
    prefix = re.compile(rf"^BOXOFFICE_{service.upper()}_", re.IGNORECASE)
    for variable in list(os.environ):
        if prefix.match(variable):
            monkeypatch.delenv(variable)


def test_jwt_secret_is_shared() -> None:
    # Tokens are verified by every service with the same key.
    compose = m.compose()
    files = {
        value
        for service in m.SERVICES
        for variable, value in compose["services"][service]["environment"].items()
        if variable.endswith("_JWT_SECRET_FILE")
    }
    assert files == {"/run/secrets/jwt_secret"}
    refs = {
        m.container_env(m.by_name("Deployment")[service]).from_secrets[
            f"{m.env_prefix(service)}JWT_SECRET"
        ][:2]
        for service in m.SERVICES
    }
    assert len(refs) == 1
