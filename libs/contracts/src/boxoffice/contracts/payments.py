"""Messages of the payments topic, published by systems outside boxoffice."""

from typing import Annotated

from pydantic import AwareDatetime, Discriminator, Tag

from boxoffice.contracts.common import CurrencyCode, MinorAmount
from boxoffice.contracts.envelope import Envelope, ReservationKeyed, envelope_type
from boxoffice.contracts.topics import Topic


class PaymentReceived(ReservationKeyed):
    """Money was received for a reservation."""

    message_type = "boxoffice.payments.PaymentReceived.v1"
    topic = Topic.PAYMENTS_EVENTS

    payment_id: str
    amount_minor: MinorAmount
    currency: CurrencyCode
    received_at: AwareDatetime
    method: str | None = None


PaymentEvent = Annotated[
    Annotated[Envelope[PaymentReceived], Tag(PaymentReceived.message_type)],
    Discriminator(envelope_type),
]
"""Any envelope of ``payments.events``, discriminated by its ``type``."""
