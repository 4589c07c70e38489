"""Settings shared by every service; each service subclasses with its own env prefix."""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_JWT_SECRET = "boxoffice-development-secret-do-not-use-in-production"  # noqa: S105


class Environment(StrEnum):
    """Where a service runs; unsafe defaults are only accepted in development."""

    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class ServiceSettings(BaseSettings):
    """Settings every boxoffice service has.

    A service subclass sets ``model_config`` with its own ``env_prefix``
    (``BOXOFFICE_<SERVICE>_``) and adds its own fields.
    """

    model_config = SettingsConfigDict(extra="ignore")

    environment: Environment = Environment.PRODUCTION
    service_name: str = "boxoffice"
    http_host: str = "127.0.0.1"
    http_port: int = 8000

    database_url: str = "sqlite+aiosqlite:///.data/boxoffice.db"
    database_pool_size: int = Field(default=20, ge=1)
    database_echo: bool = False

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_partitions: int = Field(default=6, ge=1)
    kafka_replication_factor: int = Field(default=1, ge=1)
    kafka_enable_idempotence: bool = False
    """Turn on against Apache Kafka; the local Tansu broker does not support it."""
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 3_000
    kafka_fetch_max_wait_ms: int = 500
    """How long a fetch waits for data. Kafka answers as soon as data arrives; Tansu
    waits the whole time, so on Tansu this is the latency of every idle hop."""
    kafka_fetch_max_wait_ms_by_topic: dict[str, int] = Field(default_factory=dict)
    """Per contract topic overrides, e.g. ``{"inventory.commands": 10}``: a short wait on
    the topics of the create path, a long one (little idle polling) elsewhere."""
    kafka_rebalance_timeout_ms: int | None = None
    """How long the group coordinator waits for members to rejoin; None = the client's."""
    kafka_consumer_group_prefix: str = "boxoffice"
    kafka_topic_suffix: str = ""
    """Appended to every topic name; lets test sessions share one broker."""

    consumer_max_attempts: int = Field(default=5, ge=1)
    consumer_batch_size: int = Field(default=100, ge=1)
    """Messages fetched and applied in one transaction (and one offset commit)."""
    consumer_retry_backoff_seconds: float = Field(default=0.2, ge=0)

    outbox_poll_interval_ms: int = Field(default=250, ge=1)
    """Fallback poll of the relay; commits wake it at once (in-process or NOTIFY)."""
    outbox_batch_size: int = Field(default=500, ge=1)
    outbox_lease_seconds: float = Field(default=5.0, gt=0)
    outbox_retention_hours: float = Field(default=24.0, gt=0)

    jwt_secret: SecretStr | None = None
    jwt_algorithm: str = "HS256"

    log_level: str = "INFO"
    log_json: bool = True

    otlp_endpoint: str | None = None
    """OTLP/HTTP collector base URL (e.g. ``http://otel-collector:4318``); tracing is off
    unless this or the standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set."""
    metrics_cache_seconds: float = Field(default=5.0, ge=0)
    """How long ``/metrics`` reuses the gauges it read from the database."""

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Self:
        if self.jwt_secret is None:
            if self.environment is not Environment.DEVELOPMENT:
                raise ValueError(
                    "jwt_secret must be set outside development "
                    f"(environment is {self.environment.value!r})"
                )
            self.jwt_secret = SecretStr(DEVELOPMENT_JWT_SECRET)
        elif (
            self.environment is Environment.PRODUCTION
            and self.jwt_secret.get_secret_value() == DEVELOPMENT_JWT_SECRET
        ):
            raise ValueError("the development jwt_secret cannot be used in production")
        return self

    @property
    def jwt_secret_value(self) -> str:
        """The JWT signing secret (always set after validation)."""
        assert self.jwt_secret is not None  # noqa: S101 - guaranteed by the validator
        return self.jwt_secret.get_secret_value()

    def fetch_max_wait_ms(self, contract_topic: str) -> int:
        """The fetch wait of the subscription to ``contract_topic``."""
        return self.kafka_fetch_max_wait_ms_by_topic.get(
            contract_topic, self.kafka_fetch_max_wait_ms
        )

    def topic(self, name: str) -> str:
        """The broker topic name for a contract topic name."""
        return f"{name}{self.kafka_topic_suffix}"
