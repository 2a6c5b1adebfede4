"""Jurisdiction codes a site may declare: ISO 3166-1 alpha-2 countries and ISO 3166-2 subdivisions.

The data comes from the ``pycountry`` package (ISO 3166 tables, no network). Rules per
jurisdiction (BIPA, CUBI, GDPR Art. 9, EU AI Act) live elsewhere in this app; this module only
answers "is this a real code, and what is it called".
"""

from __future__ import annotations

from functools import lru_cache

import pycountry


class UnknownJurisdiction(ValueError):
    pass


@lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    names = {country.alpha_2: country.name for country in pycountry.countries}
    for subdivision in pycountry.subdivisions:
        country = names.get(subdivision.country_code, subdivision.country_code)
        names[subdivision.code] = f"{subdivision.name}, {country}"
    return names


def normalise(code: str) -> str:
    return code.strip().upper()


def jurisdiction_name(code: str) -> str:
    """Human name of a code (``US-IL`` -> ``Illinois, United States``); raises if unknown."""
    try:
        return _names()[normalise(code)]
    except KeyError:
        raise UnknownJurisdiction(
            f"unknown jurisdiction {code!r}: use an ISO 3166-1 alpha-2 country code such as 'DE' "
            f"or an ISO 3166-2 subdivision code such as 'US-IL'"
        ) from None


def is_known(code: str) -> bool:
    return normalise(code) in _names()


def country_of(code: str) -> str:
    return normalise(code).split("-", 1)[0]
