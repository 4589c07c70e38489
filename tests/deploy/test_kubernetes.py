"""deploy/k8s: schema-valid, complete, and consistent with the services it runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from tests.deploy.crd_schemas import CUSTOM_RESOURCES

from . import manifests as m

KUBERNETES_VERSION = "1.35.0"
"""The Kubernetes API the built-in kinds are validated against (strict: no unknown fields)."""

BUILT_IN_KINDS = {"Namespace", "ConfigMap", "Deployment", "Service", "PodDisruptionBudget"}


def _resource_id(item: tuple[Path, m.Document]) -> str:
    path, document = item
    return f"{path.relative_to(m.K8S)}:{document['kind']}/{document['metadata']['name']}"


RESOURCES = m.k8s_resources()
EXAMPLE_SECRETS = list(m.iter_example_secrets())


def test_kustomization_lists_every_file() -> None:
    kustomization = m.kustomization()
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    assert kustomization["kind"] == "Kustomization"
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed)), "a file is listed twice"
    on_disk = {
        str(path.relative_to(m.K8S))
        for path in m.K8S.rglob("*")
        if path.suffix in {".yaml", ".yml"}
    }
    # The example secrets must never be applied with the rest: they hold placeholders.
    expected = on_disk - {"kustomization.yaml", m.EXAMPLE_SECRETS.name}
    assert set(listed) == expected
    assert m.EXAMPLE_SECRETS.name not in listed


def test_kustomization_sets_namespace_and_image() -> None:
    kustomization = m.kustomization()
    assert kustomization["namespace"] == "boxoffice"
    images = {image["name"]: image for image in kustomization["images"]}
    used = {
        container["image"]
        for deployment in m.of_kind("Deployment")
        for container in deployment["spec"]["template"]["spec"]["containers"]
    }
    assert used == {"boxoffice"}, "one image for every service"
    assert set(images) == used
    assert images["boxoffice"].get("newTag") not in {None, "latest"}


@pytest.mark.parametrize(
    "resource",
    [r for r in RESOURCES if r[1]["kind"] in BUILT_IN_KINDS],
    ids=_resource_id,
)
def test_built_in_kind_is_valid(resource: tuple[Path, m.Document]) -> None:
    _, document = resource
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("secret", EXAMPLE_SECRETS, ids=lambda s: s["metadata"]["name"])
def test_example_secret_is_valid(secret: m.Document) -> None:
    assert secret["kind"] == "Secret"
    kubernetes_validate.validate(secret, KUBERNETES_VERSION, strict=True)
    values = {**secret.get("stringData", {}), **secret.get("data", {})}
    assert values
    assert all("EXAMPLE" in str(value) for value in values.values()), "placeholders only"


def test_every_kind_is_checked() -> None:
    kinds = {(document["apiVersion"], document["kind"]) for _, document in RESOURCES}
    unchecked = {kind for kind in kinds if kind[1] not in BUILT_IN_KINDS} - set(CUSTOM_RESOURCES)
    assert not unchecked, f"no schema for {unchecked}"


@pytest.mark.parametrize(
    "resource",
    [r for r in RESOURCES if (r[1]["apiVersion"], r[1]["kind"]) in CUSTOM_RESOURCES],
    ids=_resource_id,
)
def test_custom_resource_is_valid(resource: tuple[Path, m.Document]) -> None:
    _, document = resource
    # kubernetes-validate has no schema for CRDs: ours come from the operators' docs.
    with pytest.raises(kubernetes_validate.utils.SchemaNotFoundError):
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    schema = CUSTOM_RESOURCES[(document["apiVersion"], document["kind"])]
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(document)


def test_crd_schemas_refuse_typos() -> None:
    (scaled_object, *_) = m.of_kind("ScaledObject")
    schema = CUSTOM_RESOURCES[("keda.sh/v1alpha1", "ScaledObject")]
    broken: dict[str, Any] = {**scaled_object, "spec": {**scaled_object["spec"], "maxReplicas": 3}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
    (topic, *_) = m.of_kind("KafkaTopic")
    unlabelled = {**topic, "metadata": {"name": topic["metadata"]["name"]}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            unlabelled, CUSTOM_RESOURCES[("kafka.strimzi.io/v1beta2", "KafkaTopic")]
        )


# --- per service ------------------------------------------------------------------------------


def _deployment(service: str) -> m.Document:
    return m.by_name("Deployment")[service]


def _container(service: str) -> dict[str, Any]:
    (container,) = _deployment(service)["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def _pod_labels(service: str) -> dict[str, str]:
    labels = _deployment(service)["spec"]["template"]["metadata"]["labels"]
    assert isinstance(labels, dict)
    return labels


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector["matchLabels"].items())


@pytest.mark.parametrize("service", m.SERVICES)
def test_every_service_has_its_resources(service: str) -> None:
    for kind in ("Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "ScaledObject"):
        names = m.by_name(kind)
        expected = f"{service}-config" if kind == "ConfigMap" else service
        assert expected in names, f"{service}: no {kind} {expected}"


@pytest.mark.parametrize("service", m.SERVICES)
def test_deployment_runs_the_service(service: str) -> None:
    deployment = _deployment(service)
    assert _selects(deployment["spec"]["selector"], _pod_labels(service))
    container = _container(service)
    assert "command" not in container, "keep the image's entrypoint"
    assert container["args"] == ["python", "-m", f"boxoffice.{service}"]
    (port,) = container["ports"]
    env = m.container_env(deployment)
    prefix = m.env_prefix(service)
    configured = env.from_config_maps.get(f"{prefix}HTTP_PORT")
    assert port["name"] == "http"
    assert port["containerPort"] == int(configured or m.setting_default(service, "http_port"))
    assert "replicas" not in deployment["spec"], "the ScaledObject owns the replica count"


@pytest.mark.parametrize("service", m.SERVICES)
def test_probes(service: str) -> None:
    container = _container(service)
    for probe, path in (
        ("startupProbe", "/health/live"),
        ("livenessProbe", "/health/live"),
        ("readinessProbe", "/health/ready"),
    ):
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}, probe
    startup = container["startupProbe"]
    # Start-up migrates and connects to the broker (each retried up to 60 s) before serving.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120
    # /health/ready checks database then broker, 3 s each.
    assert container["readinessProbe"]["timeoutSeconds"] > 6


@pytest.mark.parametrize("service", m.SERVICES)
def test_graceful_shutdown(service: str) -> None:
    pod = _deployment(service)["spec"]["template"]["spec"]
    container = _container(service)
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pre_stop >= 3, "endpoints must be removed before the process stops"
    env = m.container_env(_deployment(service))
    prefix = m.env_prefix(service)
    session_timeout_ms = int(
        env.from_config_maps.get(f"{prefix}KAFKA_SESSION_TIMEOUT_MS")
        or m.setting_default(service, "kafka_session_timeout_ms")
    )
    grace = pod["terminationGracePeriodSeconds"]
    assert grace > session_timeout_ms / 1000, "longer than the broker session timeout"
    # preStop, then uvicorn's 20 s graceful shutdown, then consumers and relay stop.
    assert grace >= pre_stop + 20 + 10


@pytest.mark.parametrize("service", m.SERVICES)
def test_runs_as_non_root(service: str) -> None:
    pod = _deployment(service)["spec"]["template"]["spec"]
    container = _container(service)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"]["drop"] == ["ALL"]
    assert pod["automountServiceAccountToken"] is False


@pytest.mark.parametrize("service", m.SERVICES)
def test_resources(service: str) -> None:
    resources = _container(service)["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]


@pytest.mark.parametrize("service", m.SERVICES)
def test_service_and_pdb_select_the_pods(service: str) -> None:
    svc = m.by_name("Service")[service]
    labels = _pod_labels(service)
    assert all(labels.get(k) == v for k, v in svc["spec"]["selector"].items())
    assert {port["targetPort"] for port in svc["spec"]["ports"]} == {"http"}
    pdb = m.by_name("PodDisruptionBudget")[service]
    assert _selects(pdb["spec"]["selector"], labels)
    scaled = m.by_name("ScaledObject")[service]
    # A PDB must leave room to evict: at least one pod may go when at the minimum.
    assert pdb["spec"].get("maxUnavailable", 0) >= 1 or (
        pdb["spec"]["minAvailable"] < scaled["spec"]["minReplicaCount"]
    )


@pytest.mark.parametrize("service", m.SERVICES)
def test_secrets_come_from_secret_key_refs(service: str) -> None:
    env = m.container_env(_deployment(service))
    prefix = m.env_prefix(service)
    for field in ("database_url", "jwt_secret"):
        variable = f"{prefix}{field.upper()}"
        assert variable in env.from_secrets, f"{variable} must come from a Secret"
        assert variable not in env.from_config_maps
        assert variable not in env.literal
    # Every referenced Secret and key is documented by the example file.
    examples = {
        secret["metadata"]["name"]: {**secret.get("stringData", {}), **secret.get("data", {})}
        for secret in EXAMPLE_SECRETS
    }
    for variable, (secret, key, _) in env.from_secrets.items():
        assert key in examples.get(secret, {}), f"{variable}: {secret}/{key} not in the example"
    # No secret-looking setting in a ConfigMap.
    for variable in env.from_config_maps:
        assert not variable.endswith(("_SECRET", "_PASSWORD", "_DATABASE_URL")), variable


@pytest.mark.parametrize("service", m.SERVICES)
def test_scaled_object(service: str) -> None:
    scaled = m.by_name("ScaledObject")[service]["spec"]
    assert scaled["scaleTargetRef"]["name"] == service
    assert scaled["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    assert 1 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"]
    kafka = [t for t in scaled["triggers"] if t["type"] == "kafka"]
    topics = {t["metadata"]["topic"] for t in kafka}
    assert topics == {str(topic) for topic in m.CONSUMED[service]}
    env = m.container_env(_deployment(service))
    prefix = m.env_prefix(service)
    group_prefix = env.from_config_maps.get(f"{prefix}KAFKA_CONSUMER_GROUP_PREFIX") or (
        m.setting_default(service, "kafka_consumer_group_prefix")
    )
    bootstrap = env.from_config_maps[f"{prefix}KAFKA_BOOTSTRAP_SERVERS"]
    group = m.consumer_group_constant(service) or service
    for trigger in kafka:
        # One group per consumed topic: chassis.messaging.consumer_group.
        topic = trigger["metadata"]["topic"]
        assert trigger["metadata"]["consumerGroup"] == f"{group_prefix}.{group}.{topic}"
        assert trigger["metadata"]["bootstrapServers"] == bootstrap
        # The consumers start at the earliest offset; lag must be counted the same way.
        assert trigger["metadata"]["offsetResetPolicy"] == "earliest"
        assert int(trigger["metadata"]["lagThreshold"]) > 0


def test_consumer_group_is_the_service_name() -> None:
    for service in m.SERVICES:
        assert m.consumer_group_constant(service) in {None, service}


def test_max_replicas_within_partitions() -> None:
    partitions = {t["spec"]["topicName"]: t["spec"]["partitions"] for t in m.of_kind("KafkaTopic")}
    for scaled in m.of_kind("ScaledObject"):
        spec = scaled["spec"]
        for trigger in spec["triggers"]:
            if trigger["type"] == "kafka":
                topic = trigger["metadata"]["topic"]
                assert spec["maxReplicaCount"] <= partitions[topic], (
                    f"{scaled['metadata']['name']}: more replicas than partitions of {topic}"
                )
        assert spec["maxReplicaCount"] <= m.PARTITIONS


def test_kafka_topics() -> None:
    topics = m.of_kind("KafkaTopic")
    names = [t["spec"]["topicName"] for t in topics]
    assert len(names) == len(set(names))
    assert set(names) == m.expected_topics()
    clusters = {t["metadata"]["labels"]["strimzi.io/cluster"] for t in topics}
    assert len(clusters) == 1
    (cluster,) = clusters
    for topic in topics:
        spec = topic["spec"]
        assert spec["partitions"] == m.PARTITIONS, spec["topicName"]
        assert spec["replicas"] == 3, spec["topicName"]
        assert int(spec["config"]["min.insync.replicas"]) == 2, spec["topicName"]
    # The services and KEDA talk to the same cluster the topics belong to.
    for service in m.SERVICES:
        env = m.container_env(_deployment(service))
        bootstrap = env.from_config_maps[f"{m.env_prefix(service)}KAFKA_BOOTSTRAP_SERVERS"]
        assert bootstrap == f"{cluster}-kafka-bootstrap:9092"
