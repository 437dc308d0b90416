"""The stand-in answers slack_sdk like Slack does, including the failures tests inject."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError

from bot.slack_client import make_web_client
from storage.settings import Settings
from tests.support.slack_api import SlackApiStandIn


def _client(standin: SlackApiStandIn):  # type: ignore[no-untyped-def]
    return make_web_client(Settings(slack_bot_token="xoxb-test", slack_api_url=standin.api_url))


async def test_post_message_is_recorded(slack_api: SlackApiStandIn) -> None:
    response = await _client(slack_api).chat_postMessage(channel="C1", text="hello")
    assert response["ok"] and response["ts"]
    assert slack_api.messages_to("C1")[0]["text"] == "hello"
    assert slack_api.calls_to("chat.postMessage")[0].token == "xoxb-test"


async def test_rate_limit_is_retried_after_retry_after(slack_api: SlackApiStandIn) -> None:
    slack_api.fail("chat.postMessage", "ratelimited", status=429, retry_after=0, times=2)
    response = await _client(slack_api).chat_postMessage(channel="C1", text="hi")
    assert response["ok"]
    assert len(slack_api.calls_to("chat.postMessage")) == 3


async def test_api_error_surfaces(slack_api: SlackApiStandIn) -> None:
    slack_api.fail("chat.postMessage", "not_in_channel")
    with pytest.raises(SlackApiError) as error:
        await _client(slack_api).chat_postMessage(channel="C1", text="hi")
    assert error.value.response["error"] == "not_in_channel"


async def test_users_lookup_by_email(slack_api: SlackApiStandIn) -> None:
    slack_api.add_user("U1", "dana@example.com", "Dana")
    response = await _client(slack_api).users_lookupByEmail(email="dana@example.com")
    assert response["user"]["id"] == "U1"


async def test_files_upload_v2_round_trip(slack_api: SlackApiStandIn) -> None:
    await _client(slack_api).files_upload_v2(channel="C1", content=b"PNG", filename="chart.png")
    assert list(slack_api.uploads.values()) == [b"PNG"]
    assert slack_api.calls_to("files.completeUploadExternal")
