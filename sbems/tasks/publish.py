"""The MQTT publishing task the poll and FDD flows share."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NONE as NO_CACHE

from sbems.services.publishing import Message, publish_messages


@task(name="publish-poll-state", retries=1, retry_delay_seconds=1, cache_policy=NO_CACHE)
def publish_state(mqtt_url: str, messages: list[Message]) -> int:
    """Publish retained last state (alerts are not retained); returns messages published."""
    return publish_messages(mqtt_url, messages)
