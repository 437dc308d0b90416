"""Who is asking: Slack user → CRM user by email, with config overrides and a TTL cache."""

from __future__ import annotations

from sqlalchemy import select

from bot.identity import SlackDirectory, caller_for_email
from storage.database import session_factory
from storage.models import AuditLog


async def test_an_unknown_slack_user_is_told_how_to_get_mapped(slack, org, probe):
    reply = await slack.command("/probe", "", user="newhire@acme.test")
    assert "newhire@acme.test" in reply.text
    assert "revbot.toml" in reply.text and "CRM" in reply.text
    assert reply.response_type == "ephemeral"


async def test_an_unknown_user_is_audited_as_refused(slack, engine, org, probe):
    await slack.command("/probe", "", user="newhire@acme.test")
    with session_factory(engine)() as session:
        row = session.scalars(select(AuditLog)).one()
    assert (row.action, row.allowed, row.user_id) == ("/probe", False, None)
    assert row.reason == "unknown user newhire@acme.test"


async def test_a_slack_profile_without_email_gets_told_about_the_scope(slack, org, probe):
    slack.api.add_user("U0NOMAIL", "", "ghost")
    reply = await slack.command("/probe", "", user="U0NOMAIL")
    assert "users:read.email" in reply.text


async def test_a_role_in_revbot_toml_overrides_the_crm_role(slack, org, probe):
    slack.services.config = slack.services.config.model_copy(update={"roles": {"dana@acme.test": "exec"}})
    reply = await slack.command("/probe", "", user=org["dana"])
    assert "Umbrella Rollout" in reply.plain  # an exec sees every deal


async def test_someone_only_in_revbot_toml_roles_is_admitted(slack, org, probe):
    slack.services.config = slack.services.config.model_copy(update={"roles": {"cro@acme.test": "exec"}})
    reply = await slack.command("/probe", "all", user="cro@acme.test")
    assert org.all_deals <= set(line.split(":")[0] for line in reply.plain.splitlines())


async def test_emails_match_whatever_their_case(engine, config, org):
    with session_factory(engine)() as session:
        caller = caller_for_email(session, config, "Dana@ACME.test", "U1")
    assert caller is not None and caller.user_id == org["dana"].id and caller.role == "rep"


async def test_users_info_is_called_once_per_person_within_the_ttl(slack, org, probe):
    await slack.command("/probe", "", user=org["dana"])
    await slack.command("/probe", "", user=org["dana"])
    assert len(slack.api.calls_to("users.info")) == 1


async def test_first_time_users_are_looked_up_over_one_kept_alive_connection(slack, org, probe):
    for person in ("dana", "omar", "priya"):
        await slack.command("/probe", "", user=org[person])
    lookups = slack.api.calls_to("users.info")
    assert len(lookups) == 3
    assert len({call.client for call in lookups}) == 1


async def test_the_cache_asks_slack_again_after_the_ttl(slack_api):
    from slack_sdk.web.async_client import AsyncWebClient

    slack_api.add_user("U1", "dana@acme.test", "Dana")
    clock = [1000.0]
    directory = SlackDirectory(AsyncWebClient(token="xoxb-1", base_url=slack_api.api_url), ttl=60,
                               clock=lambda: clock[0])
    assert (await directory.profile("U1")).email == "dana@acme.test"
    clock[0] += 59
    await directory.profile("U1")
    assert len(slack_api.calls_to("users.info")) == 1
    clock[0] += 2
    await directory.profile("U1")
    assert len(slack_api.calls_to("users.info")) == 2
