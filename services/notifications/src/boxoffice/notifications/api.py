"""HTTP API of the notifications service: the delivery log, for operators."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from boxoffice.chassis.api import SessionDep
from boxoffice.chassis.auth import CurrentPrincipal
from boxoffice.notifications import repository
from boxoffice.notifications.models import EmailStatus
from boxoffice.notifications.schemas import EmailMessageOut

router = APIRouter(prefix="/v1", tags=["messages"])


@router.get("/messages", summary="List emails and their delivery status")
async def list_messages(
    session: SessionDep,
    principal: CurrentPrincipal,
    reservation_id: Annotated[
        uuid.UUID | None, Query(description="Only the emails of this reservation.")
    ] = None,
    status: Annotated[EmailStatus | None, Query(description="Only emails in this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many.")] = 100,
) -> list[EmailMessageOut]:
    """The emails of the caller's organization, newest first.

    Another organization's emails are never listed (its reservation ids give an
    empty list).
    """
    emails = await repository.list_emails(
        session,
        organization=principal.org,
        reservation_id=reservation_id,
        status=status,
        limit=limit,
    )
    return [EmailMessageOut.of(email) for email in emails]
