"""Money: an amount is an integer count of its currency's minor unit, with that unit's digits.

How many digits a currency's minor unit has comes from the CLDR data Babel ships (JPY 0, EUR 2,
KWD and BHD 3). Each deal keeps the digits its amount was stored with (``amount_digits``), so
what a row means never depends on the data of the Babel installed later, and rows stored before
0.2 (hundredths for every currency) keep their exact value where the currency has fewer digits.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from functools import cache

from babel.core import get_global
from babel.numbers import get_currency_precision, get_territory_currencies

from plughost import InvalidInput

#: The most digits any currency in use has (KWD, BHD, JOD, ...): what the Amount type admits.
MAX_DIGITS = 3


@cache
def currencies_in_use() -> frozenset[str]:
    """ISO 4217 codes that are legal tender somewhere today, by CLDR's territory data."""
    today = date.today()
    return frozenset(
        code
        for territory in get_global("territory_currencies")
        for code in get_territory_currencies(territory, today, tender=True)
    )


def check_currency(code: str) -> str:
    """``code`` if it names a currency in use; any other three letters are refused."""
    if code not in currencies_in_use():
        raise ValueError(
            f"{code!r} is not the ISO 4217 code of a currency in use; send one like EUR, USD, "
            "JPY or KWD"
        )
    return code


def minor_digits(currency: str) -> int:
    """Digits of ``currency``'s minor unit: 0 for JPY, 2 for EUR, 3 for KWD."""
    return int(get_currency_precision(currency))


def to_minor(amount: Decimal, currency: str) -> tuple[int, int]:
    """``(minor units, digits)`` for ``amount``; more decimal places than the currency has is
    refused rather than rounded."""
    digits = minor_digits(currency)
    scaled = amount.scaleb(digits)
    if scaled != scaled.to_integral_value():
        places = "no decimal places" if digits == 0 else f"at most {digits} decimal places"
        raise InvalidInput(
            f"amount {amount} has more decimal places than {currency} has: {currency} amounts "
            f"take {places}",
            amount=str(amount),
            currency=currency,
            decimal_places=digits,
        )
    return int(scaled), digits


def from_minor(minor: int, digits: int) -> Decimal:
    """The exact amount ``minor`` units of ``10**-digits`` make, written with those digits."""
    return Decimal(minor).scaleb(-digits)
