async def test_probe_over_http(slack, org, probe):
    reply = await slack.command("/probe", "", user=org["dana"])
    assert "Globex Platform Deal" in reply.plain
    assert "Umbrella Rollout" not in reply.plain
