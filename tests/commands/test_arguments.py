"""The shared grammar: mentions as Slack sends them, names, teams, `all`, periods, junk."""

from __future__ import annotations

from datetime import date

import pytest

from commands.arguments import account_subject, parse_who, segment_subject, split_words, take_share, unescape_slack
from commands.registry import ParseContext, UsageError
from storage.config import RevbotConfig
from tests.commands.conftest import ACME, CALLERS, DANA, FOX, TODAY


@pytest.fixture
def ctx(session, config: RevbotConfig) -> ParseContext:
    return ParseContext(session, config, CALLERS["walter"], TODAY)


def test_nothing_means_the_callers_own_book(ctx: ParseContext) -> None:
    assert parse_who("", ctx).kind == "self"


def test_slack_mention_resolves_by_slack_id(ctx: ParseContext) -> None:
    subject = parse_who("<@U0DANA|someone-else>", ctx)
    assert (subject.kind, subject.value, subject.label) == ("user", DANA, "Dana Scully")


def test_mention_of_an_unmapped_slack_id_falls_back_to_the_shown_name(ctx: ParseContext) -> None:
    assert parse_who("<@U0FOX|fox>", ctx).value == FOX


def test_mention_without_a_name_and_unknown_id_is_a_usage_error(ctx: ParseContext) -> None:
    with pytest.raises(UsageError, match="don't know who"):
        parse_who("<@U0NOBODY>", ctx)


@pytest.mark.parametrize("text", ["@dana", "dana", "Dana Scully", "DANA SCULLY", "scully"])
def test_people_by_name_email_local_part_or_part_of_the_name(ctx: ParseContext, text: str) -> None:
    assert parse_who(text, ctx).value == DANA


def test_asking_about_yourself_by_name_is_your_own_book(ctx: ParseContext) -> None:
    assert parse_who("@walter", ctx).kind == "self"


def test_ambiguous_name_lists_the_matches(ctx: ParseContext) -> None:
    with pytest.raises(UsageError, match=r"matches 2 people \(Fox Mulder, Jeffrey Spender\)"):
        parse_who("der", ctx)  # part of Mulder and Spender


def test_unknown_person_is_named_back(ctx: ParseContext) -> None:
    with pytest.raises(UsageError, match="I don't know anyone called “mulderx”"):
        parse_who("mulderx", ctx)


def test_team_by_keyword_any_case(ctx: ParseContext) -> None:
    subject = parse_who("team emea", ctx)
    assert (subject.kind, subject.value, subject.label) == ("team", 1, "EMEA")


def test_team_by_bare_name_when_no_person_matches(ctx: ParseContext) -> None:
    assert parse_who("na", ctx).kind == "team"


def test_unknown_team_lists_the_teams(ctx: ParseContext) -> None:
    with pytest.raises(UsageError, match="no team called “apac”; teams are: EMEA, NA"):
        parse_who("team apac", ctx)


def test_team_keyword_alone_asks_which(ctx: ParseContext) -> None:
    with pytest.raises(UsageError, match="say which team"):
        parse_who("team", ctx)


def test_all_means_everyone(ctx: ParseContext) -> None:
    assert parse_who("all", ctx).kind == "everyone"


def test_channel_links_and_specials_are_not_people(ctx: ParseContext) -> None:
    for text in ("<!channel>", "<#C123|general>", "<!subteam^S1|sales>"):
        with pytest.raises(UsageError, match="not a person or a team"):
            parse_who(text, ctx)


def test_trailing_period_is_split_off(ctx: ParseContext) -> None:
    words = split_words("team emea next quarter", ctx)
    assert words.rest == "team emea"
    assert (words.period.start, words.period.end) == (date(2026, 7, 1), date(2026, 9, 30))


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("", date(2026, 4, 1), date(2026, 6, 30)),
        ("this month", date(2026, 5, 1), date(2026, 5, 31)),
        ("Q3", date(2026, 7, 1), date(2026, 9, 30)),
        ("2025-Q4", date(2025, 10, 1), date(2025, 12, 31)),
        ("FY2026", date(2026, 1, 1), date(2026, 12, 31)),
        ("ytd", date(2026, 1, 1), date(2026, 5, 15)),
    ],
)
def test_every_period_form_in_the_spec(ctx: ParseContext, text: str, start: date, end: date) -> None:
    period = split_words(f"@dana {text}", ctx).period
    assert (period.start, period.end) == (start, end)


def test_share_is_taken_off_the_end_only() -> None:
    assert take_share("team emea share") == ("team emea", True)
    assert take_share("market share deal") == ("market share deal", False)


def test_slack_escapes_are_undone_once() -> None:
    assert unescape_slack("AT&amp;T &lt;b&gt; &amp;lt;") == "AT&T <b> &lt;"


def test_segment_is_matched_case_insensitively_and_unknown_lists_the_known(session) -> None:
    assert segment_subject("enterprise", session).value == "Enterprise"
    with pytest.raises(UsageError, match="segments are: Enterprise, Mid-Market"):
        segment_subject("smb", session)


def test_account_by_unique_part_of_the_name_or_crm_id(session) -> None:
    assert account_subject("acme", session).value == ACME
    assert account_subject("001A", session).value == ACME


def test_account_that_matches_nothing_is_named_back(session) -> None:
    with pytest.raises(UsageError, match="no account matches “hooli”"):
        account_subject("hooli", session)
