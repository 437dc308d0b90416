"""Every command once through the real path: signed request → ack → parse → authorize → compute →
render → response_url. The fixture org (tests/bot/org.py): Dana (rep, EMEA) owns Globex Platform
Deal ($120,000 Proposal 50%), Hooli Renewal 2026 ($60,000 Negotiation 75%) and the won Globex
Analytics Add-on ($45,000); Omar (EMEA) owns Initech Expansion ($80,000 open); Priya (North America)
owns Umbrella Rollout ($200,000). Reps have $300,000 targets this quarter. Four subscriptions of
$5,000–$8,000 MRR renew in 30, 50, 70 and 90 days.
"""

from __future__ import annotations

from commands.rendering import validate_blocks
from tests.bot.harness import Reply


def _check(reply: Reply) -> str:
    validate_blocks(reply.blocks)
    assert reply.response_type in (None, "ephemeral")
    return reply.plain


async def test_pipeline_for_a_rep(slack, org) -> None:
    text = _check(await slack.command("/pipeline", "", user=org["dana"]))
    # open: 120,000 + 60,000; weighted 60,000 + 45,000
    assert "*Open pipeline:* $180K in 2 deals · *Weighted:* $105K" in text
    assert "Umbrella" not in text and "Initech" not in text


async def test_pipeline_for_a_managers_team(slack, org) -> None:
    text = _check(await slack.command("/pipeline", "team emea", user=org["mona"]))
    assert "Pipeline · EMEA" in text
    assert "*Open pipeline:* $260K in 3 deals" in text  # + Omar's 80,000
    assert "Umbrella" not in text


async def test_deal_card(slack, org) -> None:
    text = _check(await slack.command("/deal", "globex platform", user=org["dana"]))
    assert "Globex Platform Deal" in text and "$120K" in text and "Dana Reyes" in text


async def test_deal_search_never_crosses_scope(slack, org) -> None:
    text = _check(await slack.command("/deal", "umbrella", user=org["dana"]))
    assert "No deals match" in text and "Umbrella Rollout" not in text


async def test_target(slack, org) -> None:
    text = _check(await slack.command("/target", "", user=org["dana"]))
    assert "$45K won of $300K" in text  # 15%
    assert "*Attainment:* 15%" in text


async def test_forecast_for_a_team(slack, org) -> None:
    text = _check(await slack.command("/forecast", "team emea", user=org["mona"]))
    assert "Forecast · EMEA" in text
    assert "*Closed:* $75K" in text  # 45,000 + Omar's won 30,000


async def test_retention_for_cs(slack, org) -> None:
    text = _check(await slack.command("/retention", "", user=org["carla"]))
    assert "*ARR:* $312K" in text  # (5,000 + 6,000 + 7,000 + 8,000) × 12


async def test_renewals_for_cs(slack, org) -> None:
    text = _check(await slack.command("/renewals", "", user=org["carla"]))
    assert "*4 renewals*" in text
    assert "Risk" in text


async def test_account(slack, org) -> None:
    text = _check(await slack.command("/account", "globex", user=org["dana"]))
    assert "*Owner:* Dana Reyes" in text and "Globex Platform Deal" in text


async def test_funnel_for_an_exec(slack, org) -> None:
    text = _check(await slack.command("/funnel", "", user=org["erin"]))
    assert "*Win rate:* 67% by count" in text  # 2 won, 1 lost


async def test_revbot_whoami_and_help(slack, org) -> None:
    assert "Dana Reyes" in _check(await slack.command("/revbot", "whoami", user=org["dana"]))
    assert "/pipeline [@user|team NAME|all] [PERIOD]" in _check(await slack.command("/revbot", "", user=org["dana"]))


async def test_cs_deal_cards_have_no_amounts(slack, org) -> None:
    text = _check(await slack.command("/deal", "globex", user=org["carla"]))
    assert "Globex Platform Deal" in text and "$" not in text


async def test_bad_input_gets_a_usage_message(slack, org) -> None:
    text = _check(await slack.command("/pipeline", "zzz", user=org["dana"]))
    assert "zzz" in text and "/pipeline" in text
