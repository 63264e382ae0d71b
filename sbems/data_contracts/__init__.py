"""Contracts at every boundary: pydantic models for MQTT messages and payloads, the topic router,
and the Great Expectations suite for reading batches."""

from sbems.data_contracts.messages import (
    AlertMessage,
    CommandMessage,
    CommandResponseMessage,
    ContractError,
    HvacFaultMessage,
    HvacStatusMessage,
    HvacTelemetryMessage,
    MeterReadingMessage,
    SensorReadingMessage,
    SetpointMessage,
    ThermostatStatusMessage,
)
from sbems.data_contracts.topics import Route, TopicError, parse_message, parse_topic, topic_for

__all__ = [
    "AlertMessage",
    "CommandMessage",
    "CommandResponseMessage",
    "ContractError",
    "HvacFaultMessage",
    "HvacStatusMessage",
    "HvacTelemetryMessage",
    "MeterReadingMessage",
    "SensorReadingMessage",
    "SetpointMessage",
    "ThermostatStatusMessage",
    "Route",
    "TopicError",
    "parse_message",
    "parse_topic",
    "topic_for",
]
