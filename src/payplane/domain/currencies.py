"""ISO 4217 currencies and their minor-unit exponents.

Source: the ISO 4217 list one (active codes) as maintained by SIX, amendment 179 (2025), which
retired ANG in favour of XCG and added ZWG. Update this table when the list is amended; nothing
else in Payplane knows exponents.
"""

from __future__ import annotations

_ZERO = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE = "BHD IQD JOD KWD LYD OMR TND"
_FOUR = "CLF UYW"
_TWO = (
    "AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN "
    "BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP "
    "GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT "
    "LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN "
    "NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE "
    "SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES "
    "WST XCD XCG YER ZAR ZMW ZWG"
)

EXPONENTS: dict[str, int] = {
    code.lower(): exponent
    for codes, exponent in ((_ZERO, 0), (_TWO, 2), (_THREE, 3), (_FOUR, 4))
    for code in codes.split()
}


def exponent(currency: str) -> int:
    """Minor-unit exponent of an ISO 4217 code (any case); KeyError if the code is not active."""
    return EXPONENTS[currency.lower()]


def is_supported(currency: str) -> bool:
    return currency.lower() in EXPONENTS
