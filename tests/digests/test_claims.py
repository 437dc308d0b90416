"""Delivery claims: one owner per (kind, recipient, period), even across processes and crashes."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine

from digests import claims

NOW = datetime(2026, 11, 23, 13, 0)


def test_second_claim_for_the_same_period_is_refused(engine: Engine) -> None:
    first = claims.claim(engine, "digest_monday", "C0LEAD", "2026-W48", now=NOW, worker="a")
    second = claims.claim(engine, "digest_monday", "C0LEAD", "2026-W48", now=NOW, worker="b")
    assert first is not None and second is None


def test_other_periods_and_recipients_are_separate_claims(engine: Engine) -> None:
    assert claims.claim(engine, "digest_monday", "C0LEAD", "2026-W48", now=NOW)
    assert claims.claim(engine, "digest_monday", "C0LEAD", "2026-W49", now=NOW)
    assert claims.claim(engine, "digest_team", "C0LEAD", "2026-W48", now=NOW)


def test_posted_claim_is_never_taken_again_even_after_the_lease(engine: Engine) -> None:
    taken = claims.claim(engine, "digest_monday", "C0LEAD", "2026-W48", now=NOW)
    claims.mark_posted(engine, taken, "1700000000.000001", now=NOW)
    later = NOW + timedelta(days=3)
    assert claims.claim(engine, "digest_monday", "C0LEAD", "2026-W48", now=later) is None


def test_failed_claim_is_retaken_by_the_next_run(engine: Engine) -> None:
    taken = claims.claim(engine, "digest_monday", "C0LEAD", "2026-W48", now=NOW)
    claims.mark_failed(engine, taken, "channel_not_found")
    retry = claims.claim(engine, "digest_monday", "C0LEAD", "2026-W48", now=NOW + timedelta(minutes=30))
    assert retry is not None and retry.attempts == 2 and not retry.was_in_flight


def test_live_claim_is_left_alone_until_its_lease_expires(engine: Engine) -> None:
    claims.claim(engine, "digest_monday", "C0LEAD", "2026-W48", now=NOW, worker="crashed")
    within = claims.claim(engine, "digest_monday", "C0LEAD", "2026-W48", now=NOW + timedelta(minutes=5))
    after = claims.claim(engine, "digest_monday", "C0LEAD", "2026-W48", now=NOW + timedelta(minutes=11))
    assert within is None
    assert after is not None and after.attempts == 2


def test_only_one_of_two_retakers_wins_an_expired_claim(engine: Engine) -> None:
    claims.claim(engine, "digest_monday", "C0LEAD", "2026-W48", now=NOW, worker="crashed")
    later = NOW + timedelta(hours=1)
    first = claims.claim(engine, "digest_monday", "C0LEAD", "2026-W48", now=later, worker="a")
    second = claims.claim(engine, "digest_monday", "C0LEAD", "2026-W48", now=later, worker="b")
    assert first is not None and second is None


def test_a_claim_left_in_posting_is_flagged_as_possibly_sent(engine: Engine) -> None:
    taken = claims.claim(engine, "digest_monday", "C0LEAD", "2026-W48", now=NOW)
    claims.begin_post(engine, taken, now=NOW)
    retaken = claims.claim(engine, "digest_monday", "C0LEAD", "2026-W48", now=NOW + timedelta(hours=1))
    assert retaken is not None and retaken.was_in_flight
