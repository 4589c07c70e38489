"""Loading deploy/ and what the code says it must contain (services, settings, topics)."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic_settings import BaseSettings

from boxoffice.contracts import dlq_topic
from boxoffice.contracts.topics import ALL_TOPICS, Topic

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
DOCKERIGNORE = DEPLOY / "docker" / "Dockerfile.dockerignore"
EXAMPLE_SECRETS = K8S / "example-secrets.yaml"

SERVICES = ("inventory", "reservations", "notifications")

PARTITIONS = 6
"""Partitions of every topic: the bound of each consumer group's parallelism."""

CONSUMED: dict[str, tuple[str, ...]] = {
    "inventory": (Topic.INVENTORY_COMMANDS,),
    "reservations": (
        Topic.INVENTORY_EVENTS,
        Topic.NOTIFICATIONS_EVENTS,
        Topic.PAYMENTS_EVENTS,
        Topic.RESERVATIONS_COMMANDS,
    ),
    "notifications": (Topic.NOTIFICATIONS_COMMANDS,),
}
"""The topics each service consumes (DESIGN.md §1); checked against the code too."""

Document = dict[str, Any]


def yaml_files() -> list[Path]:
    """Every YAML file under deploy/."""
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yaml", ".yml"} and p.is_file())


@cache
def load_documents(path: Path) -> list[Document]:
    """The non-empty documents of a YAML file (each must be a mapping; shared: do not mutate)."""
    documents: list[Document] = []
    with path.open(encoding="utf-8") as stream:
        for document in yaml.safe_load_all(stream):
            if document is None:
                continue
            if not isinstance(document, dict):
                raise TypeError(f"{path}: a document is not a mapping")
            documents.append(document)
    return documents


def load_one(path: Path) -> Document:
    """The single document of a YAML file."""
    (document,) = load_documents(path)
    return document


def kustomization() -> Document:
    """deploy/k8s/kustomization.yaml."""
    return load_one(K8S / "kustomization.yaml")


def k8s_resources() -> list[tuple[Path, Document]]:
    """Every resource the kustomization lists, with the file it comes from."""
    resources: list[tuple[Path, Document]] = []
    for entry in kustomization()["resources"]:
        path = K8S / entry
        resources.extend((path, document) for document in load_documents(path))
    return resources


def of_kind(kind: str) -> list[Document]:
    """The kustomization's resources of one kind."""
    return [document for _, document in k8s_resources() if document["kind"] == kind]


def by_name(kind: str) -> dict[str, Document]:
    """The kustomization's resources of one kind, by metadata.name."""
    return {document["metadata"]["name"]: document for document in of_kind(kind)}


def compose() -> Document:
    """deploy/compose.yaml."""
    return load_one(COMPOSE)


# --- settings ---------------------------------------------------------------------------------


def settings_class(service: str) -> type[BaseSettings]:
    """``boxoffice.<service>.settings.Settings``, imported now (fields change over time)."""
    module = importlib.import_module(f"boxoffice.{service}.settings")
    cls = module.Settings
    assert isinstance(cls, type)
    assert issubclass(cls, BaseSettings)
    return cls


def env_prefix(service: str) -> str:
    """The environment prefix of a service's settings."""
    prefix = settings_class(service).model_config.get("env_prefix")
    assert prefix == f"BOXOFFICE_{service.upper()}_", f"{service}: unexpected prefix {prefix!r}"
    return prefix


def setting_variables(service: str) -> dict[str, str]:
    """Environment variable name -> field name, for every field of a service's Settings."""
    prefix = env_prefix(service)
    return {f"{prefix}{name}".upper(): name for name in settings_class(service).model_fields}


def setting_default(service: str, field: str) -> Any:
    """The declared default of a settings field."""
    return settings_class(service).model_fields[field].default


def service_of_variable(name: str) -> str | None:
    """The service whose prefix ``name`` carries, if any."""
    for service in SERVICES:
        if name.startswith(f"BOXOFFICE_{service.upper()}_"):
            return service
    return None


# --- topics -----------------------------------------------------------------------------------


def contract_topics() -> set[str]:
    """Every topic of the contracts."""
    return {str(topic) for topic in ALL_TOPICS}


def expected_topics() -> set[str]:
    """Contract topics plus ``<topic>.dlq`` for each consumed topic."""
    consumed = {str(topic) for topics in CONSUMED.values() for topic in topics}
    return contract_topics() | {dlq_topic(topic) for topic in consumed}


def _module_path(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None, module
    assert spec.origin is not None, module
    return Path(spec.origin)


def topics_consumed_in_code(service: str) -> set[str]:
    """Topics passed as ``consumes=[Topic.X, ...]`` in ``boxoffice.<service>.app``.

    Read from the source (no import, no side effects) so the test follows the code.
    """
    tree = ast.parse(_module_path(f"boxoffice.{service}.app").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.keyword) or node.arg != "consumes":
            continue
        assert isinstance(node.value, ast.List | ast.Tuple), f"{service}: consumes= not a list"
        for element in node.value.elts:
            assert isinstance(element, ast.Attribute), f"{service}: consumes= holds {element}"
            found.add(str(Topic[element.attr]))
    return found


def consumer_group_constant(service: str) -> str | None:
    """The ``CONSUMER_GROUP`` constant of the service's app or handlers module, if any."""
    for module in (f"boxoffice.{service}.app", f"boxoffice.{service}.handlers"):
        try:
            path = _module_path(module)
        except (AssertionError, ModuleNotFoundError):
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if (
                isinstance(node, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "CONSUMER_GROUP" for t in node.targets)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                return node.value.value
    return None


# --- compose ----------------------------------------------------------------------------------

_INTERPOLATION = re.compile(
    r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\})"
)


def interpolate(value: str, environ: Mapping[str, str] | None = None) -> str:
    """Compose variable interpolation (``$$``, ``${VAR}``, ``${VAR:-default}``)."""
    variables = environ or {}

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name")
        return variables.get(name) or (match.group("default") or "")

    return _INTERPOLATION.sub(replace, value)


def compose_environment(service: str) -> dict[str, str]:
    """The environment compose gives a service, interpolated with the defaults."""
    environment = compose()["services"][service].get("environment", {})
    assert isinstance(environment, dict), f"{service}: use the mapping form of environment"
    return {str(key): interpolate(str(value)) for key, value in environment.items()}


def words(value: str) -> list[str]:
    """Whitespace-separated words."""
    return value.split()


@dataclass(frozen=True)
class ContainerEnv:
    """What a Deployment's container gets from its environment."""

    literal: dict[str, str]
    from_config_maps: dict[str, str]
    from_secrets: dict[str, tuple[str, str, bool]]
    """Variable -> (secret name, key, optional)."""

    def names(self) -> set[str]:
        return {*self.literal, *self.from_config_maps, *self.from_secrets}


def container_env(deployment: Document) -> ContainerEnv:
    """The environment of the (single) container of a Deployment."""
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    config_maps = by_name("ConfigMap")
    from_config_maps: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        from_config_maps.update(config_maps[name].get("data", {}))
    literal: dict[str, str] = {}
    from_secrets: dict[str, tuple[str, str, bool]] = {}
    for variable in container.get("env", []):
        if "value" in variable:
            literal[variable["name"]] = variable["value"]
            continue
        ref = variable["valueFrom"]["secretKeyRef"]
        from_secrets[variable["name"]] = (ref["name"], ref["key"], bool(ref.get("optional")))
    return ContainerEnv(literal, from_config_maps, from_secrets)


def iter_example_secrets() -> Iterator[Document]:
    """The Secrets of example-secrets.yaml."""
    yield from load_documents(EXAMPLE_SECRETS)
