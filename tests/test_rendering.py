"""Rendering: user text stays inert in mrkdwn, messages stay within Slack's limits."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from slack_sdk.errors import SlackObjectFormationError

from commands.rendering import (
    MAX_BLOCKS,
    Mrkdwn,
    blocks_from_markup,
    escape_mrkdwn,
    fit_block_limit,
    format_date,
    format_datetime,
    link,
    money,
    percent,
    render,
    section_blocks,
    validate_blocks,
)

HOSTILE = ["<!channel>", "<!here>", "<@U024BE7LH>", "<https://evil.example|click me>", "Tom & Jerry", "<#C123>"]


@pytest.mark.parametrize("name", HOSTILE)
def test_escaped_user_text_has_no_angle_brackets(name: str) -> None:
    escaped = escape_mrkdwn(name)
    assert "<" not in escaped and ">" not in escaped


def test_ampersand_is_escaped_once() -> None:
    assert escape_mrkdwn("R&D <team>") == "R&amp;D &lt;team&gt;"


def test_trusted_mrkdwn_passes_through() -> None:
    assert escape_mrkdwn(Mrkdwn("<https://crm/1|Deal>")) == "<https://crm/1|Deal>"


def test_link_label_cannot_break_out_of_the_link() -> None:
    assert link("https://crm.example/006A", "Acme | <!channel>") == "<https://crm.example/006A|Acme ¦ &lt;!channel&gt;>"


def test_link_without_a_web_url_is_just_the_label() -> None:
    assert link("javascript:alert(1)", "Acme") == "Acme"


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (1_234_567, "USD", "$1.2M"),
        (950_000, "USD", "$950K"),
        (9_500, "EUR", "€9,500"),
        (2_500_000_000, "GBP", "£2.5B"),
        (-40_000, "USD", "−$40K"),
        (12_000, "CHF", "12K CHF"),
        (None, "USD", "n/a"),
    ],
)
def test_money_is_short_and_readable(amount: float | None, currency: str, expected: str) -> None:
    assert money(amount, currency) == expected


def test_percent_of_missing_ratio_is_na() -> None:
    assert percent(None) == "n/a"
    assert percent(0.873) == "87%"
    assert percent(1.05, 1) == "105.0%"


def test_dates_are_shown_in_the_configured_zone() -> None:
    # 02:30 UTC on Nov 23 is still Nov 22 in New York.
    assert format_date(datetime(2026, 11, 23, 2, 30), "America/New_York") == "Nov 22, 2026"
    assert format_date(date(2026, 1, 5)) == "Jan 5, 2026"
    assert format_datetime(datetime(2026, 11, 23, 14, 0), "Europe/Berlin") == "Nov 23, 15:00 CET"


def test_markup_becomes_header_sections_divider_and_context() -> None:
    blocks = blocks_from_markup("# Pipeline\nfirst line\n\n---\n\n> data as of today\n\nlast")
    assert [b["type"] for b in blocks] == ["header", "section", "divider", "context", "section"]


def test_long_text_is_split_into_sections_under_the_limit() -> None:
    blocks = section_blocks("\n".join("x" * 100 for _ in range(100)))
    assert len(blocks) == 4
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks)


def test_too_many_blocks_are_cut_with_a_note() -> None:
    blocks = fit_block_limit([{"type": "divider"}] * 80)
    assert len(blocks) == MAX_BLOCKS
    assert "31 more" in blocks[-1]["elements"][0]["text"]


def test_validation_rejects_an_oversized_button() -> None:
    button = {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "x" * 80}}]}
    with pytest.raises(SlackObjectFormationError):
        validate_blocks([button])


def test_render_escapes_every_value_and_keeps_a_hostile_header_plain(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "card.j2").write_text("# {{ name }}\nOwner: {{ owner }} · {{ amount | money }}\n")
    from commands.rendering import make_environment

    message = render(make_environment(tmp_path), "card.j2", fallback="<!here>", name="<!channel>",
                     owner="<@U1>", amount=50_000)
    assert message.text == "&lt;!here&gt;"
    header, section = message.blocks
    assert header["text"]["type"] == "plain_text"
    assert section["text"]["text"] == "Owner: &lt;@U1&gt; · $50K"
    assert message.to_slack()["unfurl_links"] is False
