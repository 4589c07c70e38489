"""CloudEvents 1.0 envelope (structured JSON mode) and the base of every message."""

from abc import abstractmethod
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, Literal, Self, TypeVar, cast
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic.config import JsonDict

from boxoffice.contracts.topics import Topic


class Message(BaseModel):
    """Base of every data payload carried by an :class:`Envelope`.

    Unknown fields are ignored rather than rejected, so that optional fields added by a
    newer producer do not break older consumers.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    message_type: ClassVar[str]
    """Versioned type name, e.g. ``boxoffice.inventory.HoldSeats.v1``."""
    topic: ClassVar[Topic]
    """The topic the message travels on."""

    @abstractmethod
    def partition_key(self) -> str:
        """Return the Kafka key, which keeps the messages of one aggregate in order."""


class EventKeyed(Message):
    """A message ordered per event: the inventory of one event is its aggregate."""

    event_id: UUID

    def partition_key(self) -> str:
        """Return the event id."""
        return str(self.event_id)


class ReservationKeyed(Message):
    """A message ordered per reservation."""

    reservation_id: UUID

    def partition_key(self) -> str:
        """Return the reservation id."""
        return str(self.reservation_id)


DataT = TypeVar("DataT", bound=Message, covariant=True)
# Separate from DataT: a covariant type variable cannot type a parameter.
MessageT = TypeVar("MessageT", bound=Message)

NonEmptyStr = Annotated[str, Field(min_length=1)]

# Left out of the JSON when unset: the CloudEvents JSON format treats null as absent,
# and absent is what other CloudEvents tooling emits.
_OPTIONAL_ATTRIBUTES = ("subject", "correlationid", "causationid")


def _pin_type_in_schema(schema: JsonDict, model: type[Any]) -> None:
    """Constrain ``type`` to the message type of a parametrized envelope's data."""
    data_field = getattr(model, "model_fields", {}).get("data")
    message_type = getattr(getattr(data_field, "annotation", None), "message_type", None)
    properties = schema.get("properties")
    if isinstance(message_type, str) and isinstance(properties, dict):
        type_schema = properties.get("type")
        if isinstance(type_schema, dict):
            type_schema["const"] = message_type


class Envelope(BaseModel, Generic[DataT]):
    """A message with its CloudEvents 1.0 context attributes.

    ``id`` is the deduplication key of consumers.
    """

    model_config = ConfigDict(frozen=True, extra="ignore", json_schema_extra=_pin_type_in_schema)

    specversion: Literal["1.0"] = "1.0"
    id: UUID = Field(description="Unique per message; consumers deduplicate on it.")
    source: NonEmptyStr = Field(description='Producing service, e.g. "boxoffice.inventory".')
    type: NonEmptyStr = Field(description="Message type of data.")
    time: AwareDatetime
    subject: str | None = Field(default=None, description="Id of the aggregate concerned.")
    datacontenttype: Literal["application/json"] = "application/json"
    correlationid: str | None = Field(
        default=None, description="Reservation id or HTTP request id the message belongs to."
    )
    causationid: UUID | None = Field(
        default=None, description="Id of the message that caused this one."
    )
    data: DataT

    @model_validator(mode="after")
    def _type_names_data(self) -> Self:
        expected = getattr(self.data, "message_type", None)
        if expected is not None and self.type != expected:
            raise ValueError(f"type {self.type!r} does not match data of type {expected!r}")
        return self

    @classmethod
    def wrap(
        cls,
        data: MessageT,
        *,
        source: str,
        subject: str | None = None,
        correlationid: str | None = None,
        causationid: UUID | None = None,
        id: UUID | None = None,
        time: datetime | None = None,
    ) -> "Envelope[MessageT]":
        """Put a message in a new envelope.

        Args:
            data: The message.
            source: Producing service, e.g. ``"boxoffice.inventory"``.
            subject: Id of the aggregate concerned.
            correlationid: Reservation id or HTTP request id the message belongs to.
            causationid: Id of the message that caused this one.
            id: Message id; a fresh UUID4 by default. Pass a stable one to make a retried
                publication deduplicable.
            time: Occurrence time; now in UTC by default.

        Returns:
            An envelope typed by, and serializing all fields of, the message's class.
        """
        # Parametrized by the concrete class: an envelope of the base class would serialize
        # only the base's fields.
        return envelope_class(type(data))(
            id=id or uuid4(),
            source=source,
            type=data.message_type,
            time=time or datetime.now(UTC),
            subject=subject,
            correlationid=correlationid,
            causationid=causationid,
            data=data,
        )

    def to_json(self) -> bytes:
        """Serialize to the CloudEvents structured JSON format."""
        unset = {name for name in _OPTIONAL_ATTRIBUTES if getattr(self, name) is None}
        return self.model_dump_json(exclude=unset).encode()

    def partition_key(self) -> str:
        """Return the Kafka key of the data."""
        return self.data.partition_key()


def envelope_class(message_cls: type[MessageT]) -> type[Envelope[MessageT]]:
    """Return the envelope class of a message class, i.e. ``Envelope[message_cls]``."""
    return cast("type[Envelope[MessageT]]", Envelope.__class_getitem__(message_cls))


def envelope_type(value: Any) -> str | None:
    """Return the ``type`` of a raw or validated envelope, None when absent.

    The discriminator of the per-topic envelope unions.
    """
    found = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return found if isinstance(found, str) else None
