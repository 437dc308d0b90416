"""Digest content: scoped to the team, valid Block Kit, escaped names, overridable templates."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import Engine, select

from commands.rendering import validate_blocks
from digests.runner import prepare
from storage.database import transaction
from storage.models import Deal
from tests.bot.org import seed_fixture_org
from tests.digests.helpers import digest_config

TODAY = date(2026, 11, 23)


def test_team_digest_never_contains_another_teams_deals(engine: Engine) -> None:
    org = seed_fixture_org(engine, today=TODAY)
    emea_deals, america_deals = org.deals_of("dana", "omar"), org.deals_of("priya")

    messages = {p.recipient.label: str(p.message.blocks)
                for p in prepare(engine, digest_config(), "team", today=TODAY, with_charts=False)}

    assert set(messages) == {"EMEA", "North America"}
    assert not any(deal in messages["EMEA"] for deal in america_deals)
    assert not any(deal in messages["North America"] for deal in emea_deals)
    assert "Globex Platform Deal" in messages["EMEA"] and "Umbrella Rollout" in messages["North America"]


def test_team_digest_figures_are_the_teams_own(engine: Engine) -> None:
    seed_fixture_org(engine, today=TODAY)
    emea = next(p for p in prepare(engine, digest_config(), "team", today=TODAY, with_charts=False)
                if p.recipient.label == "EMEA")
    # EMEA won 45K + 30K = 75K of its 600K team target (12.5%, shown as 12%); open: 120K + 60K + 80K.
    text = str(emea.message.blocks)
    assert "*Bookings QTD:* $75K of $600K target (12%)" in text
    assert "*Open pipeline:* $260K in 3 deals" in text


def test_every_digest_message_passes_block_kit_validation(engine: Engine) -> None:
    seed_fixture_org(engine, today=TODAY)
    config = digest_config()
    config = config.model_copy(update={"digests": config.digests.model_copy(
        update={"rep_daily_opt_in": ("dana@acme.test", "priya@acme.test")})})
    for name in ("monday", "team", "rep_daily"):
        prepared = list(prepare(engine, config, name, today=TODAY, with_charts=False))
        assert prepared, name
        for item in prepared:
            validate_blocks(item.message.blocks)


def test_deal_names_cannot_ping_a_channel(engine: Engine) -> None:
    seed_fixture_org(engine, today=TODAY)
    with transaction(engine) as session:
        session.scalar(select(Deal).where(Deal.name == "Umbrella Rollout")).name = "<!channel> Umbrella"

    text = str(next(iter(prepare(engine, digest_config(), "monday", today=TODAY, with_charts=False))).message.blocks)

    assert "<!channel>" not in text and "&lt;!channel&gt; Umbrella" in text


def test_admin_template_override_replaces_the_built_in_one(engine: Engine, tmp_path: Path) -> None:
    seed_fixture_org(engine, today=TODAY)
    (tmp_path / "weekly.j2").write_text("# Our numbers\n\nBooked {{ digest.attainment.closed_won|money }}\n")
    config = digest_config()
    config = config.model_copy(update={"digests": config.digests.model_copy(update={"template_dir": str(tmp_path)})})

    blocks = next(iter(prepare(engine, config, "monday", today=TODAY, with_charts=False))).message.blocks

    assert blocks[0]["text"]["text"] == "Our numbers"
    assert blocks[1]["text"]["text"] == "Booked $75K"


def test_charts_are_png_images(engine: Engine) -> None:
    seed_fixture_org(engine, today=TODAY)
    prepared = next(iter(prepare(engine, digest_config(), "monday", today=TODAY)))
    assert [c.filename for c in prepared.charts] == ["bookings-vs-target-leadership.png",
                                                      "pipeline-bridge-leadership.png"]
    assert all(c.png.startswith(b"\x89PNG") for c in prepared.charts)
