"""Reporting periods in DHIS2's notation: ``2020`` (year), ``2020S1`` (half-year),
``2020Q1`` (quarter), ``202001`` (month)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

_PATTERNS = [
    (re.compile(r"([0-9]{4})"), "year"),
    (re.compile(r"([0-9]{4})S([12])"), "half_year"),
    (re.compile(r"([0-9]{4})Q([1-4])"), "quarter"),
    (re.compile(r"([0-9]{4})(0[1-9]|1[0-2])"), "month"),
]


@dataclass(frozen=True)
class Period:
    code: str
    kind: str
    start: date
    end: date  # inclusive

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


def _month_end(year: int, month: int) -> date:
    return (date(year + (month == 12), month % 12 + 1, 1)) - timedelta(days=1)


def parse(code: str) -> Period:
    """Parse a period code; raise ValueError with a readable message otherwise."""
    for pattern, kind in _PATTERNS:
        m = pattern.fullmatch(code or "")
        if not m:
            continue
        year = int(m.group(1))
        if not 1900 <= year <= 2999:
            break
        if kind == "year":
            first, last = 1, 12
        elif kind == "half_year":
            first = 1 if m.group(2) == "1" else 7
            last = first + 5
        elif kind == "quarter":
            first = 3 * (int(m.group(2)) - 1) + 1
            last = first + 2
        else:
            first = last = int(m.group(2))
        return Period(code, kind, date(year, first, 1), _month_end(year, last))
    raise ValueError(f"{code!r} is not a period: use 2020, 2020S1, 2020Q1 or 202001")


def half_year_of(day: date) -> str:
    return f"{day.year}S{1 if day.month <= 6 else 2}"
