"""Vectorised parsing of the values CRM exports write: dates in several layouts, amounts with
currency symbols and thousands separators, percentages. Each parser returns the parsed series
and a mask of the cells that were filled in but could not be read, so validation can name them.

Everything here works on whole columns (pandas), never row by row: a million-row export has to
parse in seconds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Layouts tried when no --date-format is given, in the order exports most often use them.
# Salesforce writes the user's locale (US: 3/31/2026, 3/31/2026 2:15 PM); HubSpot writes ISO.
DATE_FORMATS: tuple[str, ...] = (
    "ISO8601",
    "%m/%d/%Y",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%y",
    "%m/%d/%y %I:%M %p",
)
SNIFF_SIZE = 2000

_AMOUNT_SHAPE = (
    r"(?:[A-Z]{3}\s?)?"  # USD 1,234.50
    r"\(?-?\s?[$€£¥₹]?\s?-?"  # ($1,234.50) or -€1.234,50
    r"\d[\d,.' \u00a0\u202f]*"  # digits with separators
    r"\)?(?:\s[A-Z]{3})?"  # 1.234,50 EUR
)


def blank_mask(series: pd.Series) -> pd.Series:
    """Cells with nothing in them (missing, or only spaces)."""
    text = series.astype("string")
    return text.isna() | (text.str.strip() == "")


def parse_datetimes(series: pd.Series, date_format: str | None = None) -> tuple[pd.Series, pd.Series]:
    """Parse a text column into naive datetimes. Returns (values, bad) where `bad` marks cells
    that were filled in but did not match. Without `date_format` the layout is sniffed from a
    sample and the remaining cells get each other known layout in turn."""
    text = series.astype("string").str.strip()
    blank = text.isna() | (text == "")
    text = text.mask(blank)
    if date_format:
        formats: list[str] = [date_format]
    else:
        formats = _ordered_by_sniff(text.dropna())
    result = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    todo = ~blank
    for fmt in formats:
        if not todo.any():
            break
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        parsed = parsed.astype("datetime64[us]")
        ok = parsed.notna()
        result.loc[ok[ok].index] = parsed[ok]
        todo = todo & result.isna()
    return result, todo.fillna(False).astype(bool)


def _ordered_by_sniff(sample_source: pd.Series) -> list[str]:
    sample = sample_source.head(SNIFF_SIZE)
    if sample.empty:
        return list(DATE_FORMATS)
    scores = []
    for fmt in DATE_FORMATS:
        parsed = pd.to_datetime(sample, format=fmt, errors="coerce")
        scores.append((-int(parsed.notna().sum()), DATE_FORMATS.index(fmt), fmt))
    return [fmt for _, _, fmt in sorted(scores)]


def parse_amounts(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse money: `12345.5`, `$12,345.50`, `USD 12,345.50`, `€1.234,50`, `(1,200.00)`.
    A comma followed by exactly three digits at the end is a thousands separator; otherwise the
    last of `,` / `.` is the decimal mark. Returns (float values, bad mask)."""
    text = series.astype("string").str.strip()
    blank = text.isna() | (text == "")
    values = pd.to_numeric(text.mask(blank), errors="coerce").astype("float64")
    slow = ~blank & values.isna()
    if slow.any():
        parsed = _parse_formatted_amounts(text[slow])
        values.loc[slow] = parsed
    bad = ~blank & values.isna()
    return values, bad


def _parse_formatted_amounts(text: pd.Series) -> pd.Series:
    shaped = text.str.fullmatch(_AMOUNT_SHAPE).fillna(False).astype(bool)
    negative = text.str.contains(r"^\(.*\)$|-", regex=True).fillna(False).astype(bool)
    digits = text.str.replace(r"[^\d,.]", "", regex=True)
    last_comma = digits.str.rfind(",")
    last_dot = digits.str.rfind(".")
    comma_is_thousands = digits.str.fullmatch(r"\d{1,3}(,\d{3})+").fillna(False).astype(bool)
    decimal_comma = (last_comma > last_dot) & ~comma_is_thousands
    # Decimal comma: drop dots (thousands), comma -> dot. Otherwise drop commas.
    as_decimal_comma = digits.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    as_decimal_dot = digits.str.replace(",", "", regex=False)
    normalised = as_decimal_dot.where(~decimal_comma, as_decimal_comma)
    numbers = pd.to_numeric(normalised, errors="coerce").astype("float64")
    numbers = numbers.where(~negative, -numbers)
    return numbers.where(shaped, np.nan)


def parse_percent(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Percentages as exports write them: `40`, `40%`, `40.0 %`. Values must lie in 0..100."""
    text = series.astype("string").str.strip().str.rstrip("%").str.strip()
    blank = text.isna() | (text == "")
    values = pd.to_numeric(text.mask(blank), errors="coerce").astype("float64")
    bad = ~blank & (values.isna() | (values < 0) | (values > 100))
    return values, bad


def parse_integers(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    values, bad = parse_amounts(series)
    fractional = values.notna() & (values != values.round())
    return values, bad | fractional


def parse_booleans(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """`true/false`, `yes/no`, `1/0`, `x`/blank as spreadsheets write them; blank is False."""
    text = series.astype("string").str.strip().str.casefold()
    truthy = text.isin(["true", "yes", "y", "1", "x"])
    falsy = text.isna() | text.isin(["false", "no", "n", "0", ""])
    return truthy.fillna(False).astype(bool), ~(truthy | falsy).fillna(False).astype(bool)
