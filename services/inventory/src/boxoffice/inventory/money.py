"""Currencies and money: ``Decimal`` at the edges, integer minor units inside."""

from __future__ import annotations

from decimal import Decimal

# ISO 4217 codes accepted for events, with the number of digits of their minor unit.
# Deliberately a short, explicit list: an event in a currency the finance side does not
# know is a mistake to refuse, not to guess.
CURRENCY_DIGITS: dict[str, int] = {
    "AUD": 2,
    "BGN": 2,
    "BHD": 3,
    "BRL": 2,
    "CAD": 2,
    "CHF": 2,
    "CLP": 0,
    "CNY": 2,
    "CZK": 2,
    "DKK": 2,
    "EUR": 2,
    "GBP": 2,
    "HKD": 2,
    "HUF": 2,
    "ILS": 2,
    "INR": 2,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "MXN": 2,
    "NOK": 2,
    "NZD": 2,
    "OMR": 3,
    "PLN": 2,
    "RON": 2,
    "SEK": 2,
    "SGD": 2,
    "TND": 3,
    "TRY": 2,
    "UAH": 2,
    "USD": 2,
    "ZAR": 2,
}

MAX_PRICE = Decimal("1000000000")
"""Highest price accepted for one ticket, in major units of any currency."""


class InvalidAmount(ValueError):
    """An amount that cannot be expressed in a currency."""


def is_known_currency(code: str) -> bool:
    """Whether ``code`` is an ISO 4217 code this service accepts."""
    return code in CURRENCY_DIGITS


def to_minor(amount: Decimal, currency: str) -> int:
    """Convert an amount in major units to integer minor units of ``currency``.

    Raises:
        InvalidAmount: negative, too large, or more decimals than the currency has.
    """
    digits = CURRENCY_DIGITS[currency]
    if not amount.is_finite():
        raise InvalidAmount("the amount must be a finite number")
    if amount < 0:
        raise InvalidAmount("the amount must not be negative")
    if amount > MAX_PRICE:
        raise InvalidAmount(f"the amount must not exceed {MAX_PRICE}")
    minor = amount.scaleb(digits)
    if minor != minor.to_integral_value():
        raise InvalidAmount(f"{currency} amounts have at most {digits} decimal places")
    return int(minor)


def from_minor(minor: int, currency: str) -> Decimal:
    """The amount in major units, with exactly the currency's number of decimals."""
    digits = CURRENCY_DIGITS[currency]
    return Decimal(minor).scaleb(-digits).quantize(Decimal(1).scaleb(-digits))


def format_amount(minor: int, currency: str) -> str:
    """The amount as the decimal string the API shows, e.g. ``"100.00"``."""
    return str(from_minor(minor, currency))
