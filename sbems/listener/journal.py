"""The on-disk journal: raw messages kept durably while the database is unreachable, replayed in order.

Layout: a directory of append-only segment files ``<seq>.jnl`` and a ``cursor`` file (``seq offset``)
saying how far replay has got. A record is ``b"SJ"`` + u32 body length + u32 CRC-32 of the body, and the
body is f64 receive time + u16 topic length + topic + payload. ``append`` writes a whole batch, then
``fsync``s: only after it returns may the messages be acknowledged to the broker. A process killed
mid-append leaves a torn tail; the reader stops at it (those messages were never acknowledged, so the
broker delivers them again). Each process start appends to a new segment.

The journal is bounded (``max_bytes`` over all segments): ``append`` raises :class:`JournalFull`
instead of growing, and the caller then stops acknowledging, which makes the broker hold the rest.
Only one thread may use a journal.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sbems.listener.pipeline import Inbound

log = logging.getLogger(__name__)

MAGIC = b"SJ"
HEADER = struct.Struct("<2sII")  # magic, body length, crc32
BODY_HEAD = struct.Struct("<dH")  # received_at, topic length
SEGMENT_MAX_BYTES = 64 * 1024 * 1024
READ_WINDOW_BYTES = 4 * 1024 * 1024
WARN_FRACTIONS = (0.5, 0.8, 0.95)


class JournalFull(RuntimeError):
    """Appending would exceed the journal's size limit."""


class JournalLocked(RuntimeError):
    """Another process holds this journal (a second listener with the same client id)."""


@dataclass(frozen=True, order=True)
class Position:
    segment: int
    offset: int


def encode_record(message: Inbound) -> bytes:
    topic = message.topic.encode()[:65535]
    body = BODY_HEAD.pack(message.received_at, len(topic)) + topic + message.payload
    return HEADER.pack(MAGIC, len(body), zlib.crc32(body)) + body


def decode_records(data: bytes, start: int = 0) -> tuple[list[tuple[Inbound, int]], int, bool]:
    """Records in ``data`` from ``start``: [(message, end offset)], the offset reached, and whether the
    data ended cleanly (False = torn or corrupt tail)."""
    out = []
    offset = start
    while offset < len(data):
        if len(data) - offset < HEADER.size:
            return out, offset, False
        magic, length, crc = HEADER.unpack_from(data, offset)
        body_start = offset + HEADER.size
        body = data[body_start : body_start + length]
        if magic != MAGIC or len(body) < length or zlib.crc32(body) != crc or length < BODY_HEAD.size:
            return out, offset, False
        received_at, topic_len = BODY_HEAD.unpack_from(body)
        topic = body[BODY_HEAD.size : BODY_HEAD.size + topic_len].decode(errors="replace")
        payload = bytes(body[BODY_HEAD.size + topic_len :])
        offset = body_start + length
        out.append((Inbound(topic, payload, received_at), offset))
    return out, offset, True


class Journal:
    """Append-only, fsync'd, bounded store of raw messages; see the module docstring."""

    def __init__(self, directory: Path, max_bytes: int = 1024**3, segment_max_bytes: int = SEGMENT_MAX_BYTES):
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_max_bytes = segment_max_bytes
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = open(self.directory / "lock", "a+")  # noqa: SIM115 - held for the journal's life
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise JournalLocked(
                f"journal {self.directory} is in use by another process (same client id?)"
            ) from None
        self._cursor = self._read_cursor()
        self._sizes: dict[int, int] = {}
        self._counts: dict[int, int] = {}  # pending records per segment
        self.depth = 0  # records not yet replayed
        self._file = None
        self._active: int | None = None
        self._warned = 0.0
        self._load()

    # -- state -------------------------------------------------------------------------------------------
    @property
    def size_bytes(self) -> int:
        return sum(self._sizes.values())

    @property
    def fill_frac(self) -> float:
        return self.size_bytes / self.max_bytes if self.max_bytes else 0.0

    def _segment_path(self, seq: int) -> Path:
        return self.directory / f"{seq:012d}.jnl"

    def _segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.directory.glob("*.jnl") if p.stem.isdigit())

    def _read_cursor(self) -> Position:
        path = self.directory / "cursor"
        try:
            seq, offset = path.read_text().split()
            return Position(int(seq), int(offset))
        except FileNotFoundError:
            return Position(0, 0)
        except ValueError:
            log.error("journal cursor %s is unreadable; replaying every segment from the start", path)
            return Position(0, 0)

    def _load(self) -> None:
        for seq in self._segments():
            path = self._segment_path(seq)
            if seq < self._cursor.segment:
                path.unlink()
                continue
            data = path.read_bytes()
            start = self._cursor.offset if seq == self._cursor.segment else 0
            records, _, clean = decode_records(data, start)
            if not clean:
                log.warning(
                    "journal segment %s ends in a torn or corrupt record after %d records; the rest "
                    "was never acknowledged and will be delivered again by the broker",
                    path.name,
                    len(records),
                )
            self._sizes[seq] = len(data)
            self._counts[seq] = len(records)
            self.depth += len(records)
            if not records:
                self._drop_segment(seq)
        if self.depth:
            log.warning(
                "journal %s holds %d messages not yet in the database; they are replayed first",
                self.directory,
                self.depth,
            )

    # -- writing -----------------------------------------------------------------------------------------
    def append(self, messages: Sequence[Inbound]) -> None:
        """Write ``messages`` and fsync; raises JournalFull when they do not fit."""
        if not messages:
            return
        blob = b"".join(encode_record(m) for m in messages)
        if self.size_bytes + len(blob) > self.max_bytes:
            raise JournalFull(
                f"journal {self.directory} is full ({self.size_bytes} of {self.max_bytes} bytes)"
            )
        if self._file is None or self._sizes.get(self._active, 0) + len(blob) > self.segment_max_bytes:
            self._open_new_segment()
        size_before = self._sizes[self._active]
        try:
            self._file.write(blob)
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError:
            # never leave a torn record in the middle of a segment: later records would be unreachable
            self._file.truncate(size_before)
            self._close_active()
            raise
        self._sizes[self._active] += len(blob)
        self._counts[self._active] += len(messages)
        self.depth += len(messages)

    def _open_new_segment(self) -> None:
        self._close_active()
        segments = self._segments()
        seq = max([0, *segments, self._cursor.segment]) + 1
        self._file = open(self._segment_path(seq), "ab")  # noqa: SIM115 - kept open while active
        self._active = seq
        self._sizes[seq] = 0
        self._counts[seq] = 0
        self._fsync_dir()

    def _close_active(self) -> None:
        if self._file is not None:
            self._file.close()
        self._file = None
        self._active = None

    def _fsync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- replay ------------------------------------------------------------------------------------------
    def read_next(self, max_records: int) -> tuple[list[Inbound], Position | None]:
        """The oldest pending records (at most ``max_records``) and the position after them."""
        for seq in sorted(self._counts):
            if self._counts[seq] == 0:
                continue
            start = self._cursor.offset if seq == self._cursor.segment else 0
            remaining = max(self._sizes[seq] - start, 0)
            window = READ_WINDOW_BYTES
            with open(self._segment_path(seq), "rb") as handle:
                while True:  # read a window; widen it while it holds no whole record
                    handle.seek(start)
                    data = handle.read(min(window, remaining))
                    records, _, _ = decode_records(data)
                    if records or window >= remaining:
                        break
                    window *= 2
            records = records[:max_records]
            if not records:
                continue
            return [m for m, _ in records], Position(seq, start + records[-1][1])
        if self.depth:
            log.error(
                "journal %s counted %d pending messages but none could be read; resetting the count",
                self.directory,
                self.depth,
            )
            self.depth = 0
            for seq in self._counts:
                self._counts[seq] = 0
        return [], None

    def commit(self, position: Position, count: int) -> None:
        """Mark everything up to ``position`` (``count`` records) as stored in the database."""
        for seq in sorted(self._counts):
            if seq < position.segment:
                self.depth -= self._counts[seq]
                self._drop_segment(seq)
        self._counts[position.segment] -= count
        self.depth -= count
        self._cursor = position
        self._write_cursor(position)
        if self._counts[position.segment] == 0:
            if position.segment == self._active:
                self._close_active()  # the next append starts a fresh segment
            self._drop_segment(position.segment)

    def _drop_segment(self, seq: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._segment_path(seq).unlink()
        self._sizes.pop(seq, None)
        self._counts.pop(seq, None)

    def _write_cursor(self, position: Position) -> None:
        tmp = self.directory / "cursor.tmp"
        with open(tmp, "w") as handle:
            handle.write(f"{position.segment} {position.offset}\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.directory / "cursor")
        self._fsync_dir()

    def close(self) -> None:
        self._close_active()
        if not self._lock.closed:
            self._lock.close()  # releases the flock

    # -- warnings ----------------------------------------------------------------------------------------
    def warn_if_filling(self, now_s: float, every_s: float = 30.0) -> None:
        """Log loudly (at most every ``every_s``) while the journal is past half full."""
        fill = self.fill_frac
        if fill < WARN_FRACTIONS[0] or now_s - self._warned < every_s:
            return
        self._warned = now_s
        level = logging.ERROR if fill >= WARN_FRACTIONS[-1] else logging.WARNING
        log.log(
            level,
            "JOURNAL FILLING: %.0f%% of %d MB used by %d messages waiting for the database; at "
            "100%% the listener stops acknowledging and the broker must hold new messages",
            fill * 100,
            self.max_bytes // 2**20,
            self.depth,
        )
