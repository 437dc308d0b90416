"""What the dispatcher says itself: help, usage errors, hidden errors, and `share`."""

from __future__ import annotations

from sqlalchemy import select

from commands.registry import REGISTRY, Command, CommandContext, ParseContext, Subject
from commands.rendering import Message, validate_blocks
from storage.database import session_factory
from storage.models import AuditLog


async def test_help_shows_description_usage_and_examples(slack, org, probe):
    reply = await slack.command("/probe", "help", user=org["dana"])
    assert "Lists the deals in the caller's scope" in reply.plain
    assert "`/probe [team NAME|user NAME|account NAME|all]`" in reply.plain
    assert "`/probe team emea`" in reply.plain
    validate_blocks(reply.blocks)


async def test_bad_arguments_name_the_problem_and_give_usage_and_an_example(slack, org, probe):
    reply = await slack.command("/probe", "team atlantis", user=org["dana"])
    assert "no team called 'atlantis'" in reply.plain
    assert "Usage: `/probe [team NAME|user NAME|account NAME|all]`" in reply.plain
    assert "Example: `/probe team emea`" in reply.plain


async def test_an_unexpected_error_is_logged_not_shown(slack, engine, org, probe, caplog):
    reply = await slack.command("/probe", "boom", user=org["dana"])
    assert reply.text.startswith("Something went wrong; the error is logged")
    assert "Traceback" not in reply.plain and "exploded" not in reply.plain
    assert "probe exploded on purpose" in caplog.text
    with session_factory(engine)() as session:
        row = session.scalars(select(AuditLog)).one()
    assert row.reason.startswith("error ")


async def test_share_in_the_own_team_channel_posts_there(slack, org, probe):
    reply = await slack.command("/probe", "share", user=org["dana"], channel=org.team_channels["EMEA"])
    assert reply.text == f"Shared in <#{org.team_channels['EMEA']}>."
    posted = slack.api.messages_to(org.team_channels["EMEA"])
    assert len(posted) == 1 and "Globex Platform Deal" in str(posted[0]["blocks"])
    assert posted[0]["unfurl_links"] in (False, "0", "false")


async def test_share_in_another_teams_channel_stays_private(slack, org, probe):
    reply = await slack.command("/probe", "share", user=org["dana"], channel=org.team_channels["North America"])
    assert slack.api.calls_to("chat.postMessage") == []
    assert reply.response_type == "ephemeral"
    assert "Globex Platform Deal" in reply.plain  # she still gets her answer, privately
    assert "only receives that team's data" in reply.plain


async def test_org_wide_data_is_not_shared_into_a_team_channel(slack, org, probe):
    await slack.command("/probe", "all share", user=org["erin"], channel=org.team_channels["EMEA"])
    assert slack.api.calls_to("chat.postMessage") == []


async def test_share_in_an_unconfigured_channel_stays_private(slack, org, probe):
    reply = await slack.command("/probe", "share", user=org["dana"], channel="C0RANDOM")
    assert slack.api.calls_to("chat.postMessage") == []
    assert "stayed private" in reply.plain


async def test_share_joins_the_channel_when_revbot_is_not_in_it(slack, org, probe):
    slack.api.fail("chat.postMessage", "not_in_channel")
    reply = await slack.command("/probe", "share", user=org["mona"], channel=org.team_channels["EMEA"])
    assert org.team_channels["EMEA"] in slack.api.channels_joined
    assert reply.text.startswith("Shared in")


def _oversized_header(text: str, ctx: ParseContext) -> tuple[str, Subject]:
    return text, Subject("self")


def _built_without_render(args: str, ctx: CommandContext) -> Message:
    # a header over Slack's 150 characters, in a Message that did not come from `render`
    return Message(text="hi", blocks=[{"type": "header", "text": {"type": "plain_text", "text": "x" * 200}}])


async def test_a_reply_built_without_the_renderer_is_still_checked_against_block_kit(slack, org):
    command = Command(name="rawprobe", description="A hand-built reply (tests only)", usage_hint="", examples=("",),
                      parse=_oversized_header, run=_built_without_render)  # fmt: skip
    REGISTRY[command.name] = command
    try:
        reply = await slack.command("/rawprobe", "", user=org["dana"])
    finally:
        REGISTRY.pop(command.name, None)
    assert reply.text.startswith("Something went wrong; the error is logged")
