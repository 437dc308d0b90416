"""App Home: opening the Home tab publishes the caller's dashboard."""

from __future__ import annotations

from commands.rendering import validate_blocks


async def test_opening_app_home_publishes_a_home_view_for_the_caller(slack, org):
    params = await slack.open_home(org["dana"])
    assert params["user_id"] == slack.user(org["dana"])
    view = params["view"]
    assert view["type"] == "home"
    assert view["blocks"][0]["text"]["text"] == "Dana Reyes's dashboard"
    assert len(view["blocks"]) <= 100
    validate_blocks([b for b in view["blocks"]][:50])


async def test_a_reps_dashboard_never_shows_another_reps_deals(slack, org):
    view = (await slack.open_home(org["dana"]))["view"]
    text = str(view["blocks"])
    assert not any(name in text for name in org.deals_of("omar", "priya"))


async def test_an_unknown_person_gets_a_welcome_explaining_how_to_be_mapped(slack, org):
    view = (await slack.open_home("newhire@acme.test"))["view"]
    assert view["blocks"][0]["text"]["text"] == "Welcome to revbot"
    assert "newhire@acme.test" in str(view["blocks"])
