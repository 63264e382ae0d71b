"""The readings of one batch by (point, instant): conflicting duplicates found in the batch and against
the values already stored. Pure: the writer looks the stored values up
(:func:`sbems.storage.reading_values.read_stored_values`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

Key = tuple[UUID, datetime]


def conflict_reason(point: str, at: datetime, first: float | None, value: float) -> str:
    return f"conflicting duplicate: {point} at {at.isoformat()} already has {first}, this message {value}"


@dataclass
class ReadingLedger:
    """(point id, time) -> (value, message, accepted kind, point name) of each sensor and meter reading."""

    entries: dict[Key, list[tuple[float, Any, str, str]]] = field(default_factory=dict)
    meter_points: set[UUID] = field(default_factory=set)

    def claim(
        self, message: Any, kind: str, points: Sequence[tuple[UUID, str, float]], at: datetime, meter: bool
    ) -> str | None:
        """Record the message's readings; the reason when a point already holds another value at ``at``
        (nothing recorded then). The same value again is a re-delivery, not a conflict."""
        for point_id, point, value in points:
            for other, *_ in self.entries.get((point_id, at), ()):
                if other != value:
                    return conflict_reason(point, at, other, value)
        for point_id, point, value in points:
            self.entries.setdefault((point_id, at), []).append((value, message, kind, point))
            if meter:
                self.meter_points.add(point_id)
        return None

    def keys(self) -> tuple[list[Key], list[Key]]:
        """(sensor keys, meter keys), to look up the values already stored."""
        sensors = [key for key in self.entries if key[0] not in self.meter_points]
        return sensors, [key for key in self.entries if key[0] in self.meter_points]

    def conflicts(self, stored: dict[Key, float | None]) -> tuple[set[Key], list[tuple[Any, str, str]]]:
        """The keys stored with another value, and each message holding one (message, kind, reason)."""
        bad: set[Key] = set()
        messages: dict[int, tuple[Any, str, str]] = {}
        for key, sources in self.entries.items():
            for value, message, kind, point in sources:
                if key in stored and value != stored[key]:
                    bad.add(key)
                    reason = conflict_reason(point, key[1], stored[key], value)
                    messages.setdefault(id(message), (message, kind, reason))
        return bad, list(messages.values())
