"""The flows as a work-pool worker loads them: ``sbems.deployments.entry.<schedule name>``.

A worker imports a deployment's entrypoint afresh, so the options ``sbems deploy`` sets on a flow
(meaningful run names, the repeated-failure alert hook) must live on an importable object: this
module's attributes, built on first access (PEP 562) so that loading ``poll`` imports no forecasting.
"""

from __future__ import annotations

from typing import Any


def deployable(name: str) -> Any:
    """Schedule ``name``'s flow with the run name and failure hooks every deployment carries."""
    from sbems.deployments import flow_run_name, load_flow
    from sbems.deployments.pool import alert_on_repeated_failures

    return load_flow(name).with_options(
        flow_run_name=flow_run_name(name),
        on_failure=[alert_on_repeated_failures],
        on_crashed=[alert_on_repeated_failures],
    )


def __getattr__(name: str) -> Any:
    from sbems.deployments import POOL_SCHEDULES, SCHEDULES

    schedule = name if name in SCHEDULES else name.replace("_", "-")  # poll_loop -> poll-loop
    if schedule not in SCHEDULES and schedule not in POOL_SCHEDULES:
        raise AttributeError(name)
    flow = deployable(schedule)
    globals()[name] = flow
    return flow
