"""The rule set's currency: an ISO 4217 alphabetic code, checked against a built-in list.

A saving in ``RMB`` looks right to a person and is wrong to every program that reads the
decision (a billing system, ``report``'s per-currency sums, a price database), so the
code is checked when the rule set loads, with the intended code suggested for the usual
mistakes. The list is data kept here, not a dependency: it changes a few times a decade.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import AfterValidator, Field, Strict
from pydantic_core import PydanticCustomError

__all__ = ["CURRENCIES", "Currency", "iso_currency"]

# ISO 4217 list one as of 2025: the alphabetic codes of currencies and funds in use, the
# old code of a recent redenomination kept while both circulate (ANG/XCG, SLL/SLE,
# ZWL/ZWG). Withdrawn codes (HRK since Croatia's euro, 2023; DEM, FRF, …) are not in it.
CURRENCIES: Final = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV
    BRL BSD BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE
    CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD
    HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD
    KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV
    MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB
    RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT
    TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF
    XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
    """.split()  # noqa: SIM905 - a table, read as one
)

# ISO 4217 codes that are not money a test can be priced in: precious metals, bond-market
# units, the SDR and its kin, the testing code and "no currency".
_NOT_MONEY: Final = frozenset(
    "XAG XAU XPD XPT XBA XBB XBC XBD XDR XSU XUA XTS XXX".split()  # noqa: SIM905
)

# Names and codes people write for a currency that ISO spells otherwise: common names
# (RMB, YUAN), old trade abbreviations (UKP, STG, NIS, NTD), country codes (CHN, USA),
# pence and offshore-market codes, and codes ISO has withdrawn for a successor.
_MISTAKES: Final = {
    "RMB": "CNY", "YUAN": "CNY", "RENMINBI": "CNY", "CNH": "CNY", "CHN": "CNY",
    "UKP": "GBP", "STG": "GBP", "GBX": "GBP", "GBR": "GBP", "UK": "GBP",
    "NIS": "ILS", "NTD": "TWD", "NT": "TWD", "TWN": "TWD", "HK": "HKD",
    "EURO": "EUR", "EUROS": "EUR", "HRK": "EUR",
    "US": "USD", "USA": "USD", "YEN": "JPY", "JPN": "JPY", "WON": "KRW", "KOR": "KRW",
    "RUR": "RUB", "BYR": "BYN", "MRO": "MRU", "STD": "STN", "VEF": "VES", "ZMK": "ZMW",
    "GHC": "GHS", "TRL": "TRY", "MXP": "MXN", "SFR": "CHF",
}  # fmt: skip


def iso_currency(code: str) -> str:
    """The code itself if ISO 4217 lists it as a currency; else a located schema error."""
    if code in CURRENCIES:
        return code
    if code in _NOT_MONEY:
        raise PydanticCustomError(
            "currency",
            "'{code}' is an ISO 4217 code but not of a currency (metals, bond units, SDR, "
            "testing and no-currency codes cannot price a test)",
            {"code": code},
        )
    upper = code.strip().upper()
    hint = upper if upper in CURRENCIES else _MISTAKES.get(upper)
    tail = f" (did you mean {hint}?)" if hint else ""
    raise PydanticCustomError(
        "currency",
        "'{code}' is not an ISO 4217 currency code" + tail,
        {"code": code},
    )


Currency = Annotated[
    str,
    Strict(),
    AfterValidator(iso_currency),
    Field(json_schema_extra={"enum": sorted(CURRENCIES)}),  # editors offer the codes
]
"""A rule set's ``currency``: text that ISO 4217 lists as a currency."""
