from datetime import timedelta

from sbems.deployments import SCHEDULES, available_flows, build_deployments


def test_every_scheduled_flow_is_built_and_deploys_per_building():
    assert available_flows() == list(SCHEDULES)
    deployments = build_deployments(["hq", "annex"])
    assert len(deployments) == 2 * len(SCHEDULES)
    poll = next(d for d in deployments if d.name == "poll-annex")
    assert poll.parameters == {"building_id": "annex"}
    assert poll.schedules[0].schedule.interval == timedelta(seconds=30)
    assert "building:annex" in poll.tags
