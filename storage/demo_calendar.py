"""Fiscal quarters for the demo generator.

Storage must not import metrics, so the demo works out quarter boundaries itself. Quarters start in
`fiscal_year_start_month` and every third month after it; `end` is inclusive, as in `metrics.periods`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(frozen=True)
class Quarter:
    start: date
    end: date  # inclusive: the quarter's last day

    @property
    def end_exclusive(self) -> date:
        return self.end + timedelta(days=1)


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _from_month_index(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def quarter_of(day: date, fiscal_year_start_month: int) -> Quarter:
    """The fiscal quarter containing `day`."""
    index = _month_index(day)
    start_index = index - (index - (fiscal_year_start_month - 1)) % 3
    return Quarter(_from_month_index(start_index), _from_month_index(start_index + 3) - timedelta(days=1))


def shift_quarter(quarter: Quarter, by: int) -> Quarter:
    """The quarter `by` quarters after (negative: before) `quarter`."""
    start_index = _month_index(quarter.start) + 3 * by
    return Quarter(_from_month_index(start_index), _from_month_index(start_index + 3) - timedelta(days=1))


def quarters_around(today: date, fiscal_year_start_month: int, *, before: int, after: int) -> list[Quarter]:
    """`before` quarters before the current one, the current one, and `after` quarters after it."""
    current = quarter_of(today, fiscal_year_start_month)
    return [shift_quarter(current, offset) for offset in range(-before, after + 1)]
