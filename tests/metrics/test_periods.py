"""The fiscal calendar and the PERIOD grammar, with dates worked out on a calendar."""

from __future__ import annotations

from datetime import date

import pytest

from metrics.periods import (
    Period,
    PeriodError,
    fiscal_quarter,
    fiscal_year,
    looks_like_period,
    parse_period,
    previous_period,
)

TODAY = date(2026, 8, 15)  # a Saturday in calendar Q3 2026


@pytest.mark.parametrize(
    ("text", "start", "end", "key"),
    [
        ("", date(2026, 7, 1), date(2026, 9, 30), "2026-Q3"),
        ("this quarter", date(2026, 7, 1), date(2026, 9, 30), "2026-Q3"),
        ("Next Quarter", date(2026, 10, 1), date(2026, 12, 31), "2026-Q4"),
        ("last quarter", date(2026, 4, 1), date(2026, 6, 30), "2026-Q2"),
        ("this month", date(2026, 8, 1), date(2026, 8, 31), "2026-08"),
        ("last month", date(2026, 7, 1), date(2026, 7, 31), "2026-07"),
        ("Q1", date(2026, 1, 1), date(2026, 3, 31), "2026-Q1"),
        ("2027-q2", date(2027, 4, 1), date(2027, 6, 30), "2027-Q2"),
        ("FY2025", date(2025, 1, 1), date(2025, 12, 31), "FY2025"),
        ("ytd", date(2026, 1, 1), date(2026, 8, 15), "FY2026-YTD"),
        ("2026-02", date(2026, 2, 1), date(2026, 2, 28), "2026-02"),
    ],
)
def test_calendar_fiscal_year(text: str, start: date, end: date, key: str) -> None:
    period = parse_period(text, today=TODAY)
    assert (period.start, period.end, period.key) == (start, end, key)


def test_fiscal_year_starting_in_february_is_named_by_the_year_it_ends() -> None:
    # FY2027 runs 1 Feb 2026 – 31 Jan 2027; 15 Aug 2026 is in its Q3 (Aug, Sep, Oct).
    assert fiscal_year(TODAY, 2) == Period("FY2027", date(2026, 2, 1), date(2027, 1, 31), "FY2027")
    quarter = fiscal_quarter(TODAY, 2)
    assert (quarter.key, quarter.start, quarter.end) == ("2027-Q3", date(2026, 8, 1), date(2026, 10, 31))


def test_q4_of_a_february_fiscal_year_crosses_new_year() -> None:
    period = parse_period("2027-Q4", today=TODAY, fiscal_year_start_month=2)
    assert (period.start, period.end) == (date(2026, 11, 1), date(2027, 1, 31))


def test_next_quarter_wraps_into_the_next_fiscal_year() -> None:
    period = parse_period("next quarter", today=date(2026, 12, 20))
    assert period.key == "2027-Q1"


def test_days_and_elapsed_days() -> None:
    q3 = parse_period("2026-Q3", today=TODAY)
    assert q3.days == 92  # 31 + 31 + 30
    assert q3.elapsed_days(TODAY) == 46  # 31 days of July + 15 of August
    assert q3.elapsed_days(date(2026, 6, 30)) == 0
    assert q3.elapsed_days(date(2026, 12, 1)) == 92
    assert q3.contains(date(2026, 9, 30)) and not q3.contains(date(2026, 10, 1))


def test_previous_period_of_a_quarter_and_a_month() -> None:
    assert previous_period(parse_period("2026-Q1", today=TODAY)).key == "2025-Q4"
    assert previous_period(parse_period("2026-03", today=TODAY)).key == "2026-02"


@pytest.mark.parametrize("text", ["soon", "Q5", "2026-13", "FY", "2026-09-30..2026-07-01"])
def test_unreadable_periods_raise_a_message_with_examples(text: str) -> None:
    with pytest.raises(PeriodError) as error:
        parse_period(text, today=TODAY)
    assert "2026-Q3" in str(error.value) or "quarter" in str(error.value)


def test_looks_like_period_tells_subjects_from_periods() -> None:
    assert looks_like_period("next quarter")
    assert looks_like_period("2026-Q3")
    assert not looks_like_period("emea")
    assert not looks_like_period("team emea")
    assert not looks_like_period("")
