"""Vectorised parsing of the values CRM exports write: dates in several layouts, amounts with
currency symbols and thousands separators, percentages. Each parser returns the parsed series
and a mask of the cells that were filled in but could not be read, so validation can name them.

Everything here works on whole columns (pandas), never row by row: a million-row export has to
parse in seconds. The common layout of a column is tried first on every cell; only the cells it
could not read go through the slower, more forgiving paths.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Layouts tried when no --date-format is given. Salesforce writes the user's locale
# (US: 3/31/2026, 3/31/2026 2:15 PM); HubSpot writes ISO. The best match on a sample goes first.
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
_DECIMAL_COMMA = r",\d{1,2}$|,\d{4,}$"


def clean_text(series: pd.Series) -> pd.Series:
    """Cells as stripped text, None where blank."""
    text = series.astype(object).where(series.notna(), "").astype(str).str.strip()
    return text.where(text != "", None)


def parse_datetimes(series: pd.Series, date_format: str | None = None) -> tuple[pd.Series, pd.Series]:
    """Parse a text column into naive datetimes (UTC when the text carries an offset).
    Returns (values, bad) where `bad` marks cells that were filled in but did not match."""
    text = clean_text(series)
    filled = text.notna()
    values = text[filled]
    formats = [date_format] if date_format else _ordered_by_sniff(values)
    result = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    todo = values
    for fmt in formats:
        if todo.empty:
            break
        parsed = pd.to_datetime(todo, format=fmt, errors="coerce")
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_convert("UTC").dt.tz_localize(None)
        parsed = parsed.astype("datetime64[us]")
        ok = parsed.notna()
        result[ok[ok].index] = parsed[ok]
        todo = todo[~ok]
    bad = pd.Series(False, index=text.index)
    bad[todo.index] = True
    return result, bad


def _ordered_by_sniff(values: pd.Series) -> list[str]:
    sample = values.head(SNIFF_SIZE)
    if sample.empty:
        return list(DATE_FORMATS)
    scores = []
    for position, fmt in enumerate(DATE_FORMATS):
        parsed = pd.to_datetime(sample, format=fmt, errors="coerce")
        scores.append((-int(parsed.notna().sum()), position, fmt))
    return [fmt for _, _, fmt in sorted(scores)]


def parse_amounts(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse money: `12345.5`, `12,345.50`, `$12,345.50`, `USD 12,345.50`, `€1.234,50`,
    `(1,200.00)`. A comma followed by exactly three digits is a thousands separator; otherwise
    the last of `,` / `.` is the decimal mark. Returns (float values, bad mask)."""
    text = clean_text(series)
    filled = text.notna()
    values = pd.to_numeric(text, errors="coerce").astype("float64")
    todo = filled & values.isna()
    if todo.any():
        # Second pass, the usual export layout: thousands commas, decimal point.
        subset = text[todo]
        no_commas = pd.to_numeric(subset.str.replace(",", "", regex=False), errors="coerce")
        ok = no_commas.notna() & ~subset.str.contains(_DECIMAL_COMMA, regex=True)
        values[ok[ok].index] = no_commas[ok]
        todo = filled & values.isna()
    if todo.any():
        values[todo] = _parse_formatted_amounts(text[todo])
    values = values.where(np.isfinite(values))
    return values, filled & values.isna()


def _parse_formatted_amounts(text: pd.Series) -> pd.Series:
    shaped = text.str.fullmatch(_AMOUNT_SHAPE).astype(bool)
    negative = text.str.contains(r"^\(.*\)$|-", regex=True).astype(bool)
    digits = text.str.replace(r"[^\d,.]", "", regex=True)
    last_comma = digits.str.rfind(",")
    last_dot = digits.str.rfind(".")
    comma_is_thousands = digits.str.fullmatch(r"\d{1,3}(,\d{3})+").astype(bool)
    decimal_comma = (last_comma > last_dot) & ~comma_is_thousands
    as_decimal_comma = digits.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    as_decimal_dot = digits.str.replace(",", "", regex=False)
    normalised = as_decimal_dot.where(~decimal_comma, as_decimal_comma)
    numbers = pd.to_numeric(normalised, errors="coerce").astype("float64")
    numbers = numbers.where(~negative, -numbers)
    return numbers.where(shaped, np.nan)


def parse_percent(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Percentages as exports write them: `40`, `40%`, `40.0 %`. Values must lie in 0..100."""
    text = clean_text(series)
    filled = text.notna()
    values = pd.to_numeric(text, errors="coerce").astype("float64")
    retry = filled & values.isna()
    if retry.any():
        values[retry] = pd.to_numeric(text[retry].str.rstrip("%").str.strip(), errors="coerce")
    values = values.where(np.isfinite(values))
    bad = filled & (values.isna() | (values < 0) | (values > 100))
    return values, bad


def parse_integers(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    values, bad = parse_amounts(series)
    fractional = values.notna() & (values != values.round())
    return values, bad | fractional


def parse_booleans(series: pd.Series) -> tuple[pd.Series, pd.Series]:
    """`true/false`, `yes/no`, `1/0`, `x`/blank as spreadsheets write them; blank is False."""
    text = clean_text(series).str.casefold()
    truthy = text.isin(["true", "yes", "y", "1", "x"])
    falsy = text.isna() | text.isin(["false", "no", "n", "0"])
    return truthy, ~(truthy | falsy)
