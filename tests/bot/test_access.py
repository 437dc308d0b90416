"""Who may see what, end to end over HTTP with the test-only /probe command: each reply is
scanned for deal names that must not appear."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.access import authorize
from commands.registry import AccessDenied, Caller, Subject
from storage.database import session_factory
from storage.models import AuditLog


def _names(reply) -> set[str]:
    return {line.split(":")[0] for line in reply.plain.splitlines()}


async def test_a_rep_sees_only_their_own_deals(slack, org, probe):
    reply = await slack.command("/probe", "", user=org["dana"])
    assert org.deals_of("dana") <= _names(reply)
    assert not org.deals_of("omar", "priya") & _names(reply)


async def test_a_rep_asking_for_another_rep_is_refused(slack, org, probe):
    reply = await slack.command("/probe", "user omar", user=org["dana"])
    assert "can't see omar's numbers" in reply.text
    assert not org.all_deals & _names(reply)


async def test_a_rep_asking_for_their_team_is_refused(slack, org, probe):
    reply = await slack.command("/probe", "team emea", user=org["dana"])
    assert "can't see team emea" in reply.text
    assert not org.all_deals & _names(reply)


async def test_a_rep_asking_for_everyone_is_refused(slack, org, probe):
    reply = await slack.command("/probe", "all", user=org["omar"])
    assert "can't see the whole company's numbers" in reply.text


async def test_a_manager_sees_the_team_and_not_other_teams(slack, org, probe):
    reply = await slack.command("/probe", "", user=org["mona"])
    assert org.deals_of("dana", "omar") <= _names(reply)
    assert not org.deals_of("priya") & _names(reply)


async def test_a_manager_may_look_at_one_of_their_reps(slack, org, probe):
    reply = await slack.command("/probe", "user omar", user=org["mona"])
    assert _names(reply) & org.all_deals == org.deals_of("omar")


async def test_a_manager_asking_for_another_team_is_refused(slack, org, probe):
    reply = await slack.command("/probe", "team north", user=org["mona"])
    assert "can't see team north" in reply.text
    assert not org.all_deals & _names(reply)


@pytest.mark.parametrize("who", ["erin", "rita"])
async def test_exec_and_revops_see_everything(slack, org, probe, who):
    reply = await slack.command("/probe", "all", user=org[who])
    assert org.all_deals <= _names(reply)


async def test_an_exec_asking_for_a_team_gets_just_that_team(slack, org, probe):
    reply = await slack.command("/probe", "team north", user=org["erin"])
    assert _names(reply) & org.all_deals == org.deals_of("priya")


async def test_cs_is_refused_amount_commands_by_default(slack, org, probe):
    reply = await slack.command("/probe", "all", user=org["carla"])
    assert "customer success" in reply.text
    assert not org.all_deals & _names(reply)


async def test_cs_sees_amounts_when_config_allows(slack, org, probe):
    slack.services.config = slack.services.config.model_copy(
        update={"access": slack.services.config.access.model_copy(update={"cs_can_see_amounts": True})}
    )
    reply = await slack.command("/probe", "all", user=org["carla"])
    assert "Umbrella Rollout: 200,000" in reply.plain


def test_cs_reads_accounts_and_deal_cards_without_amounts(engine, config, org):
    carla = org["carla"]
    caller = Caller(carla.id, carla.name, carla.email, "cs", None)
    with session_factory(engine)() as session:
        scope = authorize(session, config, caller, "deal", Subject("deal_search"))
    assert scope.is_everyone and scope.show_amounts is False


def test_a_rep_may_open_an_account_where_they_own_a_deal(engine, config, org):
    dana = org["dana"]
    caller = Caller(dana.id, dana.name, dana.email, "rep", org.teams["EMEA"])
    with session_factory(engine)() as session:
        scope = authorize(session, config, caller, "account", Subject("account", org.accounts["Globex"], "Globex"))
        with pytest.raises(AccessDenied):
            authorize(session, config, caller, "account", Subject("account", org.accounts["Umbrella"], "Umbrella"))
    assert scope.owner_ids == {dana.id}


async def test_every_request_writes_one_audit_row_allowed_or_refused(slack, engine, org, probe):
    await slack.command("/probe", "", user=org["dana"])
    await slack.command("/probe", "team north", user=org["dana"])
    with session_factory(engine)() as session:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
    assert [(r.action, r.arguments, r.allowed, r.user_id) for r in rows] == [
        ("/probe", None, True, org["dana"].id),
        ("/probe", "team north", False, org["dana"].id),
    ]
    assert rows[1].reason.startswith("Sorry, you can't see team north")
    assert rows[0].slack_user_id == slack.user(org["dana"])
