"""The HTTP edge: Slack's signature and replay checks, health, and the 3-second ack."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlencode

from bot import dispatch
from tests.bot.harness import sign


def _form(user_id: str = "U0NOBODY") -> str:
    return urlencode({"command": "/probe", "text": "", "user_id": user_id, "channel_id": "C1", "team_id": "T0TEST",
                      "response_url": "http://127.0.0.1:9/none", "trigger_id": "1.2.3"})


async def test_a_bad_signature_is_rejected_with_401(slack):
    result = await slack.raw_post(_form(), signature="v0=" + "0" * 64)
    assert result.status == 401


async def test_a_body_signed_with_another_secret_is_rejected_with_401(slack):
    result = await slack.raw_post(_form(), sign_with="not-our-secret")
    assert result.status == 401


async def test_a_ten_minute_old_timestamp_is_rejected_with_401_even_when_signed(slack):
    old = int(time.time()) - 600
    body = _form()
    result = await slack.raw_post(body, timestamp=old, signature=sign(body, str(old)))
    assert result.status == 401


async def test_healthz_answers_ok(slack):
    result = await slack.get("/healthz")
    assert result.status == 200
    assert result.json()["ok"] is True


async def test_the_ack_arrives_while_the_database_stalls_and_the_answer_follows(slack, org, probe, monkeypatch):
    released = threading.Event()
    real_answer = dispatch.answer

    def stalled_answer(*args, **kwargs):
        released.wait(timeout=5)  # the database "stalls" until the test has seen the ack (at most 5 s)
        return real_answer(*args, **kwargs)

    monkeypatch.setattr(dispatch, "answer", stalled_answer)
    key, ack = await slack.send_command("/probe", "", user=org["dana"])
    assert ack.status == 200
    assert ack.seconds < 3  # Slack's deadline for the ack
    assert slack.api.responses_for(key) == []  # nothing answered yet: the ack did not wait for the DB
    released.set()
    answer = await slack.api.wait_for_response(key)
    assert "Globex Platform Deal" in str(answer["blocks"])
    assert answer["response_type"] == "ephemeral"


async def test_the_ack_of_a_five_second_stall_still_comes_back_in_time(slack, org, probe, monkeypatch):
    real_answer = dispatch.answer

    def slow_answer(*args, **kwargs):
        time.sleep(5)
        return real_answer(*args, **kwargs)

    monkeypatch.setattr(dispatch, "answer", slow_answer)
    key, ack = await slack.send_command("/probe", "", user=org["dana"])
    assert ack.status == 200 and ack.seconds < 3
    answer = await slack.api.wait_for_response(key, timeout=15)
    assert "Globex Platform Deal" in str(answer["blocks"])


async def test_a_slash_command_unknown_to_revbot_gets_a_friendly_answer(slack, org):
    reply = await slack.command("/forecastt", "", user=org["dana"])
    assert "I don't know `/forecastt`" in reply.text
