"""The fiscal calendar: turn "next quarter" or "FY2026" into a date range.

Fiscal years are named by the calendar year in which they END (Salesforce's default): with a
fiscal year starting in February, FY2026 runs 1 Feb 2025 – 31 Jan 2026. With the default start
month (January) fiscal and calendar years coincide. Quarters are numbered from the fiscal year's
first month, so `2026-Q1` is the first quarter of FY2026.

Periods are whole days, `end` inclusive. "Today" is a date in the configured time zone; callers
get it from `local_today(config.zone)` so a question asked at 23:30 in New York is not answered
with tomorrow's UTC quarter.

Grammar (case-insensitive, extra spaces ignored):

    ""  | this quarter | next quarter | last quarter            → a fiscal quarter
    this month | next month | last month | 2026-11              → a calendar month
    Q3 | 2026-Q3 | Q3 2026 | FY2026 Q3 | Q3 FY26                → quarter 3 (of this fiscal year when no year)
    FY2026 | FY26 | this year | next year | last year          → a fiscal year
    ytd | FY2026-YTD                                           → fiscal year start .. today
    2026-07-01..2026-09-30                                     → any range of days

Every `Period.key` parses back to the same period (`parse_period(p.key, today=...) == p`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

EXAMPLES = "this quarter, next quarter, this month, Q3, 2026-Q3, FY2026 or ytd"

MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)


class PeriodError(ValueError):
    """A period the user typed that revbot cannot read; the message is safe to show as is."""


@dataclass(frozen=True)
class Period:
    """A span of whole days, both ends inclusive.

    `label` is how a reply names it ("Q3 FY2026"); `code` is the canonical text that parses back
    to this period (see `key`). Periods built by hand without a code get a range key.
    """

    label: str
    start: date
    end: date
    code: str | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise PeriodError(f"A period cannot end ({self.end}) before it starts ({self.start}).")

    @property
    def key(self) -> str:
        """Stable text id: "2026-Q3", "FY2026", "2026-11", "FY2026-YTD" or "2026-07-01..2026-09-30"."""
        return self.code or f"{self.start.isoformat()}..{self.end.isoformat()}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def contains(self, d: date | datetime) -> bool:
        day = d.date() if isinstance(d, datetime) else d
        return self.start <= day <= self.end

    def elapsed_days(self, today: date) -> int:
        """Days of the period up to and including today: 0 before it starts, `days` after it ends."""
        if today < self.start:
            return 0
        if today > self.end:
            return self.days
        return (today - self.start).days + 1

    def remaining_days(self, today: date) -> int:
        return self.days - self.elapsed_days(today)

    @property
    def start_datetime(self) -> datetime:
        """Naive midnight at the start: for comparing with naive-UTC timestamp columns."""
        return datetime(self.start.year, self.start.month, self.start.day)

    @property
    def end_exclusive_datetime(self) -> datetime:
        """Naive midnight the day after `end`: timestamps in the period are `< end_exclusive_datetime`."""
        return datetime(self.end.year, self.end.month, self.end.day) + timedelta(days=1)


# --- calendar arithmetic ---------------------------------------------------------------------


def local_today(zone: tzinfo, now: datetime | None = None) -> date:
    """Today's date in the configured zone (`now` is for tests; aware or naive-UTC)."""
    from datetime import UTC

    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).date()


def _add_months(first_of_month: date, months: int) -> date:
    index = first_of_month.year * 12 + first_of_month.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _month_end(first_of_month: date) -> date:
    return _add_months(first_of_month, 1) - timedelta(days=1)


def _check_start_month(fiscal_year_start_month: int) -> None:
    if not 1 <= fiscal_year_start_month <= 12:
        raise ValueError(f"fiscal_year_start_month must be 1-12, got {fiscal_year_start_month}")


def fiscal_year_number(d: date, fiscal_year_start_month: int = 1) -> int:
    """The fiscal year containing `d`, named by the calendar year in which it ends."""
    _check_start_month(fiscal_year_start_month)
    if fiscal_year_start_month == 1 or d.month < fiscal_year_start_month:
        return d.year
    return d.year + 1


def _fiscal_year_start(fy: int, fiscal_year_start_month: int) -> date:
    return date(fy if fiscal_year_start_month == 1 else fy - 1, fiscal_year_start_month, 1)


def fiscal_year_period(fy: int, fiscal_year_start_month: int = 1) -> Period:
    _check_start_month(fiscal_year_start_month)
    start = _fiscal_year_start(fy, fiscal_year_start_month)
    end = _add_months(start, 12) - timedelta(days=1)
    return Period(label=f"FY{fy}", start=start, end=end, code=f"FY{fy}")


def fiscal_year(d: date, fiscal_year_start_month: int = 1) -> Period:
    """The fiscal year containing `d`."""
    return fiscal_year_period(fiscal_year_number(d, fiscal_year_start_month), fiscal_year_start_month)


def fiscal_quarter_period(fy: int, quarter: int, fiscal_year_start_month: int = 1) -> Period:
    if not 1 <= quarter <= 4:
        raise PeriodError(f"There is no quarter {quarter}; quarters are Q1 to Q4. Try {EXAMPLES}.")
    _check_start_month(fiscal_year_start_month)
    start = _add_months(_fiscal_year_start(fy, fiscal_year_start_month), 3 * (quarter - 1))
    end = _add_months(start, 3) - timedelta(days=1)
    return Period(label=f"Q{quarter} FY{fy}", start=start, end=end, code=f"{fy}-Q{quarter}")


def fiscal_quarter(d: date, fiscal_year_start_month: int = 1) -> Period:
    """The fiscal quarter containing `d`."""
    fy = fiscal_year_number(d, fiscal_year_start_month)
    quarter = (d.month - fiscal_year_start_month) % 12 // 3 + 1
    return fiscal_quarter_period(fy, quarter, fiscal_year_start_month)


def month_period(year: int, month: int) -> Period:
    if not 1 <= month <= 12:
        raise PeriodError(f"There is no month {month}. Try {EXAMPLES}.")
    start = date(year, month, 1)
    return Period(
        label=f"{MONTH_NAMES[month - 1].capitalize()} {year}",
        start=start,
        end=_month_end(start),
        code=f"{year:04d}-{month:02d}",
    )


def year_to_date(fy: int, today: date, fiscal_year_start_month: int = 1) -> Period:
    """From the start of fiscal year `fy` to today (the whole year once it is over)."""
    year = fiscal_year_period(fy, fiscal_year_start_month)
    end = min(max(today, year.start), year.end)
    return Period(label=f"FY{fy} year to date", start=year.start, end=end, code=f"FY{fy}-YTD")


def previous_period(period: Period, fiscal_year_start_month: int = 1) -> Period:
    """The period of the same kind just before `period` (last quarter for a quarter, and so on)."""
    day_before = period.start - timedelta(days=1)
    kind = _kind(period)
    if kind == "quarter":
        return fiscal_quarter(day_before, fiscal_year_start_month)
    if kind == "year":
        return fiscal_year(day_before, fiscal_year_start_month)
    if kind == "month":
        return month_period(day_before.year, day_before.month)
    length = timedelta(days=period.days)
    return Period(label=f"{period.start - length} to {day_before}", start=period.start - length, end=day_before)


def _kind(period: Period) -> str:
    code = period.code or ""
    if re.fullmatch(r"\d{4}-Q[1-4]", code):
        return "quarter"
    if re.fullmatch(r"FY\d{4}", code):
        return "year"
    if re.fullmatch(r"\d{4}-\d{2}", code):
        return "month"
    return "range"


# --- parsing ---------------------------------------------------------------------------------

_QUARTER = re.compile(
    r"(?:(?:fy)?(?P<y1>\d{2}|\d{4})[\s-]*q(?P<q1>[1-4]))"
    r"|(?:q(?P<q2>[1-4])(?:[\s-]*(?:fy)?(?P<y2>\d{2}|\d{4}))?)"
)
_FISCAL_YEAR = re.compile(r"fy\s*-?\s*(?P<y>\d{2}|\d{4})")
_YTD = re.compile(r"(?:fy\s*-?\s*(?P<y>\d{2}|\d{4})[\s-]*)?(?:ytd|year to date)")
_MONTH = re.compile(r"(?P<y>\d{4})-(?P<m>\d{1,2})")
_NAMED_MONTH = re.compile(r"(?P<name>[a-z]{3,9})(?:\s+(?P<y>\d{4}))?")
_RANGE = re.compile(r"(?P<a>\d{4}-\d{2}-\d{2})\s*(?:\.\.|to)\s*(?P<b>\d{4}-\d{2}-\d{2})")


def _year(text: str) -> int:
    value = int(text)
    return 2000 + value if len(text) == 2 else value


def parse_period(text: str | None, *, today: date, fiscal_year_start_month: int = 1) -> Period:
    """Read a PERIOD as users type it; raises `PeriodError` with an example for anything else."""
    m = fiscal_year_start_month
    cleaned = " ".join((text or "").strip().lower().split())
    relative = _parse_relative(cleaned, today, m)
    if relative is not None:
        return relative
    if match := _YTD.fullmatch(cleaned):
        fy = _year(match["y"]) if match["y"] else fiscal_year_number(today, m)
        return year_to_date(fy, today, m)
    if match := _QUARTER.fullmatch(cleaned):
        quarter = int(match["q1"] or match["q2"])
        year_text = match["y1"] or match["y2"]
        fy = _year(year_text) if year_text else fiscal_year_number(today, m)
        return fiscal_quarter_period(fy, quarter, m)
    if match := _FISCAL_YEAR.fullmatch(cleaned):
        return fiscal_year_period(_year(match["y"]), m)
    if match := _MONTH.fullmatch(cleaned):
        return month_period(int(match["y"]), int(match["m"]))
    if match := _RANGE.fullmatch(cleaned):
        return _parse_range(match["a"], match["b"], text or "")
    if (match := _NAMED_MONTH.fullmatch(cleaned)) and (month := _month_number(match["name"])):
        year = int(match["y"]) if match["y"] else today.year
        return month_period(year, month)
    raise PeriodError(f"I can't read the period “{(text or '').strip()[:60]}”. Try {EXAMPLES}.")


def _parse_relative(cleaned: str, today: date, m: int) -> Period | None:
    this_quarter = fiscal_quarter(today, m)
    this_month = month_period(today.year, today.month)
    this_year = fiscal_year(today, m)
    if cleaned in ("", "this quarter", "quarter", "qtd", "current quarter"):
        return this_quarter
    if cleaned == "next quarter":
        return fiscal_quarter(this_quarter.end + timedelta(days=1), m)
    if cleaned in ("last quarter", "previous quarter"):
        return fiscal_quarter(this_quarter.start - timedelta(days=1), m)
    if cleaned in ("this month", "month", "mtd", "current month"):
        return this_month
    if cleaned == "next month":
        after = this_month.end + timedelta(days=1)
        return month_period(after.year, after.month)
    if cleaned in ("last month", "previous month"):
        before = this_month.start - timedelta(days=1)
        return month_period(before.year, before.month)
    if cleaned in ("this year", "this fiscal year", "year"):
        return this_year
    if cleaned == "next year":
        return fiscal_year(this_year.end + timedelta(days=1), m)
    if cleaned in ("last year", "previous year"):
        return fiscal_year(this_year.start - timedelta(days=1), m)
    return None


def _parse_range(a: str, b: str, original: str) -> Period:
    try:
        start, end = date.fromisoformat(a), date.fromisoformat(b)
    except ValueError:
        raise PeriodError(f"“{original.strip()[:60]}” has a date that does not exist. Try {EXAMPLES}.") from None
    if end < start:
        raise PeriodError(f"“{original.strip()[:60]}” ends before it starts. Try {EXAMPLES}.")
    return Period(label=f"{start.isoformat()} to {end.isoformat()}", start=start, end=end)


def _month_number(name: str) -> int | None:
    for index, full in enumerate(MONTH_NAMES, start=1):
        if name == full or (len(name) >= 3 and full.startswith(name)):
            return index
    return None


_PROBE_DAY = date(2026, 1, 15)


def looks_like_period(text: str) -> bool:
    """True when `text` reads as a PERIOD; commands use it to split "team emea next quarter"."""
    try:
        parse_period(text, today=_PROBE_DAY)
    except PeriodError:
        return False
    return bool(text and text.strip())
