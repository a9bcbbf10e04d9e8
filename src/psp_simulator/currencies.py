"""Minor-unit exponents of ISO 4217 currencies and decimal amounts computed from integers.

The simulator accepts any three-letter code; a code it does not list has two decimals, which is
what every listed code not named below has too (ISO 4217 list one, amendment 179).
"""

from __future__ import annotations

_EXPONENTS: dict[str, int] = {
    code: exponent
    for codes, exponent in (
        ("bif clp djf gnf isk jpy kmf krw pyg rwf ugx uyi vnd vuv xaf xof xpf", 0),
        ("bhd iqd jod kwd lyd omr tnd", 3),
        ("clf uyw", 4),
    )
    for code in codes.split()
}
DEFAULT_EXPONENT = 2


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency.lower(), DEFAULT_EXPONENT)


def to_decimal(amount: int, currency: str) -> str:
    """Minor units as major units with exactly the currency's decimals: 1000 usd -> "10.00"."""
    digits = exponent(currency)
    sign = "-" if amount < 0 else ""
    if digits == 0:
        return f"{sign}{abs(amount)}"
    whole, fraction = divmod(abs(amount), 10**digits)
    return f"{sign}{whole}.{fraction:0{digits}d}"
