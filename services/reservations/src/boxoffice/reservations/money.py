"""Money: ``Decimal`` at the edges, integer minor units inside."""

from __future__ import annotations

from decimal import Decimal

# Currencies whose minor unit is not hundredths; every other ISO 4217 code has two digits.
_DIGITS_OTHER_THAN_TWO: dict[str, int] = {
    "BHD": 3,
    "CLP": 0,
    "ISK": 0,
    "JOD": 3,
    "JPY": 0,
    "KRW": 0,
    "KWD": 3,
    "OMR": 3,
    "TND": 3,
}

MAX_PRICE = Decimal("1000000000")
"""Highest price accepted for one ticket, in major units of any currency."""


class InvalidAmount(ValueError):
    """An amount that cannot be expressed in a currency."""


def currency_digits(currency: str) -> int:
    """Number of decimals of the currency's minor unit."""
    return _DIGITS_OTHER_THAN_TWO.get(currency, 2)


def to_minor(amount: Decimal, currency: str) -> int:
    """Convert an amount in major units to integer minor units of ``currency``.

    Raises:
        InvalidAmount: not finite, negative, too large, or more decimals than the currency has.
    """
    if not amount.is_finite():
        raise InvalidAmount("the amount must be a finite number")
    if amount < 0:
        raise InvalidAmount("the amount must not be negative")
    if amount > MAX_PRICE:
        raise InvalidAmount(f"the amount must not exceed {MAX_PRICE}")
    digits = currency_digits(currency)
    minor = amount.scaleb(digits)
    if minor != minor.to_integral_value():
        raise InvalidAmount(f"{currency} amounts have at most {digits} decimal places")
    return int(minor)


def format_amount(minor: int, currency: str) -> str:
    """The amount as the decimal string the API shows, e.g. ``"100.00"``."""
    digits = currency_digits(currency)
    return str(Decimal(minor).scaleb(-digits).quantize(Decimal(1).scaleb(-digits)))
