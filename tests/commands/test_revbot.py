"""/revbot help|status|whoami|subscribe|alerts against the hand-built org."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.orm import Session

from commands.registry import UsageError
from storage.models import AlertEvent, Delivery, SyncRun
from tests.commands.conftest import ACME, DANA, HOSTILE, INITECH, Ask, text_of


def test_help_lists_every_registered_command_with_its_usage(ask: Ask) -> None:
    from commands.registry import all_commands

    text = text_of(ask("revbot", "help"))
    for command in all_commands():
        assert command.usage() in text


def test_no_topic_means_help(ask: Ask) -> None:
    assert ask.parse("revbot", "")[0].topic == "help"


def test_unknown_topic_names_what_was_wrong(ask: Ask) -> None:
    with pytest.raises(UsageError, match="`/revbot frobnicate`"):
        ask.parse("revbot", "frobnicate")


def test_status_shows_freshness_and_the_last_run_of_each_source(ask: Ask) -> None:
    text = text_of(ask("revbot", "status"))
    assert "Data is fresh" in text
    assert "import:salesforce" in text
    assert "May 15, 02:05 EDT" in text  # 06:05 UTC finished, in New York


def test_status_reports_failed_syncs_and_deliveries(ask: Ask, session: Session) -> None:
    session.add(
        SyncRun(
            source="salesforce",
            started_at=datetime(2026, 5, 14, 9),
            finished_at=datetime(2026, 5, 14, 9, 1),
            status="failed",
            error="INVALID_SESSION_ID <!channel>",
        )
    )
    session.add(
        Delivery(
            kind="digest:monday",
            recipient="C0LEAD",
            period_key="2026-W20",
            status="failed",
            claimed_at=datetime(2026, 5, 11, 12),
            attempts=3,
            error="channel_not_found",
        )
    )
    session.flush()
    text = text_of(ask("revbot", "status", who="alvin"))
    assert "INVALID_SESSION_ID &lt;!channel&gt;" in text
    assert "channel_not_found" in text and "C0LEAD" in text


def test_status_warns_when_data_is_stale(ask: Ask, session: Session) -> None:
    session.query(SyncRun).delete()
    session.add(
        SyncRun(
            source="import:generic",
            started_at=datetime(2026, 5, 10),
            finished_at=datetime(2026, 5, 10),
            status="success",
        )
    )
    session.flush()
    assert "Data is stale" in text_of(ask("revbot", "status"))


def test_whoami_names_role_team_and_what_the_role_sees(ask: Ask) -> None:
    text = text_of(ask("revbot", "whoami", who="walter"))
    assert "Walter Skinner" in text and "manager" in text and "EMEA" in text
    assert "your team and everyone who reports to you" in text


def test_whoami_tells_cs_that_amounts_are_hidden(ask: Ask) -> None:
    assert "Deal amounts are hidden" in text_of(ask("revbot", "whoami", who="monica"))


def test_subscribe_shows_team_channel_and_how_to_opt_in(ask: Ask) -> None:
    text = text_of(ask("revbot", "subscribe"))
    assert "<#C0EMEA>" in text
    assert "add dana@example.com to `digests.rep_daily_opt_in`" in text


def _alert(id_: int, rule: str, subject_type: str, subject_id: int, title: str) -> AlertEvent:
    at = datetime(2026, 5, 14, 12)
    return AlertEvent(
        id=id_,
        rule=rule,
        fingerprint=f"{rule}:{subject_id}",
        subject_type=subject_type,
        subject_id=subject_id,
        state="open",
        title=title,
        first_seen_at=at,
        last_seen_at=at,
    )


@pytest.fixture
def alerts(session: Session) -> None:
    session.add_all(
        [
            _alert(1, "stalled_deal", "deal", 2, "Acme Renewal has had no activity for 75 days"),
            _alert(2, "stalled_deal", "deal", 7, "Initech Deal has had no activity"),
            _alert(3, "renewal_risk", "account", ACME, f"{HOSTILE} renewal at risk"),
            _alert(4, "renewal_risk", "account", INITECH, "Initech renewal at risk"),
        ]
    )
    session.flush()


@pytest.mark.usefixtures("alerts")
def test_alerts_show_only_the_callers_own(ask: Ask) -> None:
    text = text_of(ask("revbot", "alerts"))
    assert "Acme Renewal" in text
    assert "Initech" not in text
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text


@pytest.mark.usefixtures("alerts")
def test_exec_sees_every_open_alert(ask: Ask) -> None:
    text = text_of(ask("revbot", "alerts", who="alvin"))
    assert "Acme Renewal" in text and "Initech Deal" in text and "Initech renewal" in text


@pytest.mark.usefixtures("alerts")
def test_cs_sees_account_alerts_only(ask: Ask) -> None:
    text = text_of(ask("revbot", "alerts", who="monica"))
    assert "Initech renewal at risk" in text
    assert "no activity" not in text


def test_alerts_parse_to_the_callers_own_book(ask: Ask) -> None:
    assert ask.parse("revbot", "alerts")[1].kind == "self"
    assert ask.parse("revbot", "alerts")[1].value == DANA
