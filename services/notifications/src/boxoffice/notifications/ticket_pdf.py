"""The ticket as a one-page PDF: event, attendee and the QR code of the signed ticket code."""

from __future__ import annotations

import hashlib
import io
import uuid
from dataclasses import dataclass
from pathlib import Path

import reportlab
from reportlab.graphics.barcode.qrencoder import QRCode, QRErrorCorrectLevel
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from boxoffice.contracts import EventInfo, TicketEmail
from boxoffice.notifications.locales import Locale

_REPORTLAB_FONTS = Path(reportlab.__file__).parent / "fonts"
_MARGIN = 20 * mm
_QR_SIZE = 60 * mm
_QR_QUIET_ZONE = 4  # modules of white around the code, as the QR standard asks
_GREY = (0.44, 0.44, 0.48)


@dataclass(frozen=True)
class _Fonts:
    regular: str
    bold: str


def _register(path: Path) -> str:
    # reportlab's font registry is process-wide: name fonts after their file.
    name = "boxoffice-" + hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    if name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(name, str(path)))
    return name


class TicketPdfRenderer:
    """Renders ticket PDFs with embedded TrueType fonts, so any text is extractable.

    Args:
        font: a TrueType font to use for all text; by default Bitstream Vera
            (shipped with reportlab) in regular and bold.
    """

    def __init__(self, font: Path | None = None) -> None:
        if font is None:
            self._fonts = _Fonts(
                regular=_register(_REPORTLAB_FONTS / "Vera.ttf"),
                bold=_register(_REPORTLAB_FONTS / "VeraBd.ttf"),
            )
        else:
            name = _register(font)
            self._fonts = _Fonts(regular=name, bold=name)

    def render(
        self,
        *,
        locale: Locale,
        event: EventInfo,
        ticket: TicketEmail,
        reservation_id: uuid.UUID,
    ) -> bytes:
        """One A4 page; deterministic for the same input (no creation timestamp)."""
        labels = locale.labels
        buffer = io.BytesIO()
        canvas = Canvas(buffer, pagesize=A4, invariant=True, pageCompression=1)
        canvas.setTitle(f"{labels['ticket']} \u2013 {event.name}")
        canvas.setAuthor(event.organization)
        width, height = A4
        text_width = width - 2 * _MARGIN
        y = height - _MARGIN

        canvas.setFillColorRGB(*_GREY)
        canvas.setFont(self._fonts.regular, 10)
        y -= 10
        canvas.drawString(_MARGIN, y, f"{labels['ticket']} · {event.organization}")

        canvas.setFillColorRGB(0, 0, 0)
        y -= 12
        for line in simpleSplit(event.name, self._fonts.bold, 22, text_width):
            y -= 26
            canvas.setFont(self._fonts.bold, 22)
            canvas.drawString(_MARGIN, y, line)
        y -= 14

        attendee = f"{ticket.attendee_first_name} {ticket.attendee_last_name}".strip()
        rows = [
            (labels["when"], locale.period(event.starts_at, event.ends_at, event.timezone)),
            *([(labels["where"], event.location)] if event.location else []),
            (labels["category"], ticket.category_name),
            (labels["attendee"], attendee),
            (labels["reservation"], str(reservation_id)),
            (labels["ticket_id"], str(ticket.ticket_id)),
        ]
        label_width = 45 * mm
        for label, value in rows:
            lines = simpleSplit(value, self._fonts.regular, 12, text_width - label_width)
            y -= 18
            canvas.setFillColorRGB(*_GREY)
            canvas.setFont(self._fonts.regular, 10)
            canvas.drawString(_MARGIN, y, label)
            canvas.setFillColorRGB(0, 0, 0)
            for index, line in enumerate(lines):
                if index:
                    y -= 15
                font = self._fonts.bold if label == labels["attendee"] else self._fonts.regular
                canvas.setFont(font, 12)
                canvas.drawString(_MARGIN + label_width, y, line)

        y -= 16 + _QR_SIZE
        _draw_qr_code(canvas, ticket.ticket_code, x=_MARGIN, y=y, size=_QR_SIZE)
        canvas.setFillColorRGB(*_GREY)
        canvas.setFont(self._fonts.regular, 10)
        for line in simpleSplit(labels["show_code"], self._fonts.regular, 10, text_width):
            y -= 14
            canvas.drawString(_MARGIN, y, line)

        canvas.showPage()
        canvas.save()
        return buffer.getvalue()


def _draw_qr_code(canvas: Canvas, data: str, *, x: float, y: float, size: float) -> None:
    """Draw a QR code with its quiet zone in a ``size`` square whose lower left is x, y.

    Uses reportlab's QR encoder directly and fills each row's runs of dark modules as
    one path: the same code as ``QrCodeWidget`` at a fraction of its cost (the widget
    encodes twice and draws every module as its own shape).
    """
    code = QRCode(None, QRErrorCorrectLevel.M)
    code.addData(data)
    code.make()
    count = code.getModuleCount()
    module = size / (count + 2 * _QR_QUIET_ZONE)
    top = y + size - _QR_QUIET_ZONE * module
    left = x + _QR_QUIET_ZONE * module
    canvas.setFillColorRGB(1, 1, 1)
    canvas.rect(x, y, size, size, stroke=0, fill=1)
    path = canvas.beginPath()
    for row in range(count):
        run_start: int | None = None
        for column in range(count + 1):
            dark = column < count and code.isDark(row, column)
            if dark and run_start is None:
                run_start = column
            elif not dark and run_start is not None:
                path.rect(
                    left + run_start * module,
                    top - (row + 1) * module,
                    (column - run_start) * module,
                    module,
                )
                run_start = None
    canvas.setFillColorRGB(0, 0, 0)
    canvas.drawPath(path, stroke=0, fill=1)
