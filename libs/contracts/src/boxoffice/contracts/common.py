"""Value types shared by the messages of several topics."""

from enum import StrEnum
from typing import Annotated, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
"""ISO 4217 code, e.g. ``EUR``."""

MinorAmount = Annotated[int, Field(ge=0)]
"""Money in the currency's minor units, e.g. cents."""

Quantity = Annotated[int, Field(ge=1)]
"""A number of seats or tickets."""

# Deliberately light: delivery is the real check, and a stricter rule here would reject
# addresses that the mail server accepts.
EmailAddress = Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")]
"""An email address: one ``@`` between non-blank parts, at most 254 characters."""


class Value(BaseModel):
    """Base of the value types nested in messages.

    Unknown fields are ignored for the same forward compatibility as messages.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")


class Channel(StrEnum):
    """Where a reservation comes from."""

    BACKOFFICE = "backoffice"
    PUBLIC = "public"


class Visibility(StrEnum):
    """Whether a ticket category is offered on the public channel."""

    PUBLIC = "public"
    HIDDEN = "hidden"


class Contact(Value):
    """The person a reservation is made for, who receives its emails."""

    first_name: str
    last_name: str
    email: EmailAddress
    company: str | None = None
    language: str | None = None


class Attendee(Value):
    """The holder of one ticket."""

    first_name: str
    last_name: str
    email: EmailAddress | None = None
    language: str | None = None
    reference: str | None = None


class NewCategory(Value):
    """A ticket category to create on the fly while reserving."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    price_minor: MinorAmount


class CategoryRef(Value):
    """The category of a line: an existing one or one to create, exactly one of both."""

    category_id: UUID | None = None
    new_category: NewCategory | None = None

    @model_validator(mode="after")
    def _exactly_one_category(self) -> Self:
        if (self.category_id is None) == (self.new_category is None):
            raise ValueError("exactly one of category_id and new_category is required")
        return self
