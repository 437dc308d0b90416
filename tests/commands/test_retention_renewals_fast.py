"""/retention and /renewals answer from SQL aggregates (`storage.customer_queries`); every caller
gets exactly the message the DataFrame path (`_run_frames`, still the fallback) renders."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from bot.access import authorize
from commands import renewals, retention
from commands.registry import CommandContext, ParseContext, get_command
from commands.rendering import Message
from storage.config import ConfigError, RevbotConfig
from storage.models import Subscription
from tests.commands.conftest import CALLERS, NOW, TODAY, Ask, text_of

WHO = sorted(CALLERS)


def _both(session: Session, config: RevbotConfig, command: str, text: str, who: str) -> tuple[Message, Message]:
    """The command's answer and the DataFrame path's, for the same caller and arguments."""
    cmd = get_command(command)
    assert cmd is not None
    caller = CALLERS[who]
    args, subject = cmd.parse(text, ParseContext(session, config, caller, TODAY))
    ctx = CommandContext(session, config, caller, authorize(session, config, caller, cmd.name, subject), TODAY, NOW)
    if command == "renewals":
        days = args.days or config.renewal_risk.window_days
        return cmd.run(args, ctx), renewals._run_frames(ctx, days)
    return cmd.run(args, ctx), retention._run_frames(args, ctx, retention._to_date(args.period, ctx))


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("text", ["", "30", "365"])
def test_renewals_match_the_dataframe_path(session: Session, config: RevbotConfig, who: str, text: str) -> None:
    fast, frames = _both(session, config, "renewals", text, who)
    assert fast == frames


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize("text", ["", "last quarter", "FY2026", "next quarter"])
def test_retention_matches_the_dataframe_path(session: Session, config: RevbotConfig, who: str, text: str) -> None:
    fast, frames = _both(session, config, "retention", text, who)
    assert fast == frames


@pytest.mark.parametrize("text", ["account acme", "account globex last quarter", "segment enterprise"])
def test_retention_of_an_account_or_segment_matches_the_dataframe_path(
    session: Session, config: RevbotConfig, text: str
) -> None:
    fast, frames = _both(session, config, "retention", text, "alvin")
    assert fast == frames


def test_renewals_name_the_owner_of_the_rows_shown(ask: Ask) -> None:
    assert "*Acme Corp* · renews Jun 1, 2026 · $120K ARR · Dana Scully" in text_of(ask("renewals", "", who="alvin"))


def test_a_currency_without_a_rate_still_names_the_missing_rate(session: Session, ask: Ask) -> None:
    session.query(Subscription).filter(Subscription.mrr == 10_000).update({"currency": "XTS"})
    session.flush()
    with pytest.raises(ConfigError, match="no rate for XTS"):
        ask("retention", "", who="alvin")
    with pytest.raises(ConfigError, match="no rate for XTS"):
        ask("renewals", "", who="alvin")
