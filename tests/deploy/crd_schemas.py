"""JSON Schemas of the custom resources in deploy/k8s, written from their documentation.

kubernetes-validate knows only built-in kinds. These schemas hold what the operators'
CRDs require (KEDA ``keda.sh_scaledobjects.yaml``, Strimzi ``043-Crd-kafkatopic.yaml``) and
the fields of the Kafka and CPU scalers we use; unknown fields are refused, so a typo
(``maxReplicas`` for ``maxReplicaCount``) fails here rather than being ignored by the cluster.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_STRING: Schema = {"type": "string"}
_INT32_MIN_0: Schema = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
_NUMBER_STRING: Schema = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$"}
_BOOL_STRING: Schema = {"type": "string", "enum": ["true", "false"]}

METADATA: Schema = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "maxLength": 253, "pattern": _DNS_SUBDOMAIN},
        "namespace": _STRING,
        "labels": {"type": "object", "additionalProperties": _STRING},
        "annotations": {"type": "object", "additionalProperties": _STRING},
    },
    "additionalProperties": False,
}

# https://keda.sh/docs/latest/scalers/apache-kafka/ (trigger metadata, all strings)
KAFKA_TRIGGER_METADATA: Schema = {
    "type": "object",
    "required": ["bootstrapServers", "consumerGroup", "topic", "lagThreshold"],
    "properties": {
        "bootstrapServers": _STRING,
        "consumerGroup": _STRING,
        "topic": _STRING,
        "lagThreshold": _NUMBER_STRING,
        "activationLagThreshold": _NUMBER_STRING,
        "offsetResetPolicy": {"enum": ["earliest", "latest"]},
        "allowIdleConsumers": _BOOL_STRING,
        "scaleToZeroOnInvalidOffset": _BOOL_STRING,
        "excludePersistentLag": _BOOL_STRING,
        "limitToPartitionsWithLag": _BOOL_STRING,
        "ensureEvenDistributionOfPartitions": _BOOL_STRING,
        "partitionLimitation": _STRING,
        "version": _STRING,
        "sasl": _STRING,
        "tls": _STRING,
        "unsafeSsl": _BOOL_STRING,
    },
    "additionalProperties": False,
}

# https://keda.sh/docs/latest/scalers/cpu/
CPU_TRIGGER_METADATA: Schema = {
    "type": "object",
    "required": ["value"],
    "properties": {"value": _NUMBER_STRING, "containerName": _STRING},
    "additionalProperties": False,
}

TRIGGER: Schema = {
    "type": "object",
    "required": ["type", "metadata"],
    "properties": {
        "type": _STRING,
        "name": _STRING,
        "metadata": {"type": "object", "additionalProperties": _STRING},
        "authenticationRef": {
            "type": "object",
            "required": ["name"],
            "properties": {"name": _STRING, "kind": _STRING},
            "additionalProperties": False,
        },
        "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
        "useCachedMetrics": {"type": "boolean"},
    },
    "additionalProperties": False,
    "allOf": [
        {
            "if": {"properties": {"type": {"const": "kafka"}}},
            "then": {"properties": {"metadata": KAFKA_TRIGGER_METADATA}},
        },
        {
            "if": {"properties": {"type": {"const": "cpu"}}},
            "then": {
                "required": ["metricType"],
                "properties": {
                    "metadata": CPU_TRIGGER_METADATA,
                    "metricType": {"enum": ["Utilization", "AverageValue"]},
                },
            },
        },
    ],
}

# keda.sh/v1alpha1 ScaledObject: spec.scaleTargetRef (name) and spec.triggers are required.
SCALED_OBJECT: Schema = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": METADATA,
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "apiVersion": _STRING,
                        "kind": _STRING,
                        "name": _STRING,
                        "envSourceContainerName": _STRING,
                    },
                    "additionalProperties": False,
                },
                "pollingInterval": {**_INT32_MIN_0, "minimum": 1},
                "cooldownPeriod": _INT32_MIN_0,
                "initialCooldownPeriod": _INT32_MIN_0,
                "idleReplicaCount": _INT32_MIN_0,
                "minReplicaCount": _INT32_MIN_0,
                "maxReplicaCount": {**_INT32_MIN_0, "minimum": 1},
                "fallback": {
                    "type": "object",
                    "required": ["failureThreshold", "replicas"],
                    "properties": {
                        "failureThreshold": _INT32_MIN_0,
                        "replicas": _INT32_MIN_0,
                        "behavior": _STRING,
                    },
                    "additionalProperties": False,
                },
                "advanced": {
                    "type": "object",
                    "properties": {
                        "restoreToOriginalReplicaCount": {"type": "boolean"},
                        "horizontalPodAutoscalerConfig": {
                            "type": "object",
                            "properties": {
                                "name": _STRING,
                                # autoscaling/v2 HorizontalPodAutoscalerBehavior
                                "behavior": {
                                    "type": "object",
                                    "properties": {
                                        "scaleUp": {"type": "object"},
                                        "scaleDown": {"type": "object"},
                                    },
                                    "additionalProperties": False,
                                },
                            },
                            "additionalProperties": False,
                        },
                        "scalingModifiers": {"type": "object"},
                    },
                    "additionalProperties": False,
                },
                "triggers": {"type": "array", "minItems": 1, "items": TRIGGER},
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

# kafka.strimzi.io KafkaTopic: no required spec field, but the Topic Operator only picks up
# topics labelled with their cluster; partitions >= 1, replicas 1..32767.
KAFKA_TOPIC: Schema = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"enum": ["kafka.strimzi.io/v1beta2", "kafka.strimzi.io/v1"]},
        "kind": {"const": "KafkaTopic"},
        "metadata": {
            **METADATA,
            "required": ["name", "labels"],
            "properties": {
                **METADATA["properties"],
                "labels": {
                    "type": "object",
                    "required": ["strimzi.io/cluster"],
                    "additionalProperties": _STRING,
                },
            },
        },
        "spec": {
            "type": "object",
            "required": ["topicName", "partitions", "replicas"],
            "properties": {
                "topicName": {"type": "string", "pattern": r"^[a-zA-Z0-9._-]{1,249}$"},
                "partitions": {"type": "integer", "minimum": 1},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                "config": {
                    "type": "object",
                    "additionalProperties": {"type": ["string", "integer", "boolean"]},
                },
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

CUSTOM_RESOURCES: dict[tuple[str, str], Schema] = {
    ("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT,
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): KAFKA_TOPIC,
    ("kafka.strimzi.io/v1", "KafkaTopic"): KAFKA_TOPIC,
}
