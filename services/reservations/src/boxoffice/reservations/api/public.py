"""The contact person's page and API, authorised only by the share token in the URL."""

from __future__ import annotations

from decimal import Decimal
from html import escape
from typing import Annotated

from fastapi import APIRouter, Body, Path
from fastapi.responses import HTMLResponse

from boxoffice.chassis.api import SessionDep
from boxoffice.reservations.api.deps import ContextDep, ReservationsContext
from boxoffice.reservations.schemas import (
    AttendeeAssignment,
    ConfirmRequest,
    ReservationOut,
    reservation_out,
)
from boxoffice.reservations.service import ReservationView

router = APIRouter(tags=["public"])

Token = Annotated[str, Path(min_length=20, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")]

# The token is the only credential: never send it on as a referrer, never cache or index it.
_PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
}


def _out(context: ReservationsContext, view: ReservationView) -> ReservationOut:
    return reservation_out(
        view.reservation, view.event, public_base_url=context.settings.public_base_url
    )


@router.get("/v1/public/reservations/{token}", response_model=ReservationOut)
async def public_reservation(
    token: Token, context: ContextDep, session: SessionDep
) -> ReservationOut:
    """The reservation, as its contact person sees it."""
    return _out(context, await context.service.public_view(session, token))


@router.put("/v1/public/reservations/{token}/attendees", response_model=ReservationOut)
async def assign_attendees(
    token: Token,
    assignments: Annotated[list[AttendeeAssignment], Body(max_length=10_000)],
    context: ContextDep,
    session: SessionDep,
) -> ReservationOut:
    """Name the holders of tickets: ``[{"ticket_id", "first_name", "last_name", "email"}]``."""
    return _out(context, await context.service.assign_attendees(session, token, assignments))


@router.post("/v1/public/reservations/{token}/confirm", response_model=ReservationOut)
async def confirm(
    token: Token, body: ConfirmRequest, context: ContextDep, session: SessionDep
) -> ReservationOut:
    """Confirm: ``free`` completes a zero total, ``bank_transfer`` awaits the money."""
    return _out(context, await context.service.confirm(session, token, body))


@router.post("/v1/public/reservations/{token}/cancel", response_model=ReservationOut)
async def cancel(token: Token, context: ContextDep, session: SessionDep) -> ReservationOut:
    """Give the reservation up; its seats are released."""
    return _out(context, await context.service.cancel_by_contact(session, token))


@router.get("/r/{token}", response_class=HTMLResponse)
async def reservation_page(token: Token, context: ContextDep, session: SessionDep) -> HTMLResponse:
    """The page the share URL opens."""
    reservation = _out(context, await context.service.public_view(session, token))
    return HTMLResponse(_page(reservation, token), headers=_PRIVATE_HEADERS)


def _page(reservation: ReservationOut, token: str) -> str:
    lines = "".join(
        f"<tr><td>{escape(line.category_name)}</td><td>{line.quantity}</td>"
        f"<td>{escape(line.unit_price)}</td><td>{escape(line.subtotal)}</td></tr>"
        for line in reservation.lines
    )
    tickets = "".join(
        f"<li>{escape(ticket.first_name or '')} {escape(ticket.last_name or '')}"
        f"{' &lt;' + escape(ticket.email) + '&gt;' if ticket.email else ' (not assigned yet)'}"
        "</li>"
        for ticket in reservation.tickets
    )
    actions = ""
    if reservation.status == "PENDING":
        method = "free" if Decimal(reservation.total) == 0 else "bank_transfer"
        actions = f"""
<form id="confirm">
  <label><input type="checkbox" name="terms" required> I accept the terms</label><br>
  <label><input type="checkbox" name="privacy" required> I accept the privacy policy</label><br>
  <button>{"Confirm" if method == "free" else "Pay by bank transfer"}</button>
</form>
<script>
document.getElementById("confirm").addEventListener("submit", async (e) => {{
  e.preventDefault();
  const f = e.target;
  const r = await fetch("/v1/public/reservations/{token}/confirm", {{
    method: "POST", headers: {{"content-type": "application/json"}},
    body: JSON.stringify({{payment_method: "{method}",
      accept_terms: f.terms.checked, accept_privacy_policy: f.privacy.checked}})}});
  if (r.ok) location.reload(); else alert((await r.json()).error.message);
}});
</script>"""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reservation for {escape(reservation.event.name)}</title></head>
<body>
<h1>{escape(reservation.event.name)}</h1>
<p>Reservation for {escape(reservation.contact.first_name)} {escape(reservation.contact.last_name)}
 &mdash; status <strong>{escape(reservation.status)}</strong></p>
<p>Please complete it before {escape(reservation.expires_at.strftime("%Y-%m-%d %H:%M %Z"))}.</p>
<table><thead><tr><th>Category</th><th>Seats</th><th>Price</th><th>Subtotal</th></tr></thead>
<tbody>{lines}</tbody>
<tfoot><tr><td colspan="3">Total</td>
<td>{escape(reservation.total)} {escape(reservation.currency)}</td></tr></tfoot></table>
<h2>Tickets</h2><ul>{tickets}</ul>
{actions}
</body></html>"""
