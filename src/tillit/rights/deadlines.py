"""When a request must be answered: by the person's law (the data map's [laws], P33).

Under the GDPR (Art. 12(3)) one calendar month from receipt, extendable by two more with
reasons told within the first; under the CCPA 45 days and 45 more; under the LGPD 15 days;
each law's figures are data, and this module only counts.
"""

from __future__ import annotations

from datetime import datetime

from tillit import datamap


def law_for(country: str | None) -> datamap.Law:
    """The law of a person living in `country`; the operator's own for a request that found
    nobody."""
    dm = datamap.load()
    return dm.law(country or dm.operator["country"])


def due(received: datetime, law: datamap.Law, kind: str = "") -> datetime:
    return law.due(received, kind)


def latest_extension(received: datetime, law: datamap.Law, kind: str = "") -> datetime | None:
    """The extended deadline, or None when the law allows none for this kind of request."""
    return law.latest_extension(received, kind)
