"""The on-disk journal: order, durability across reopen, torn tails, the size bound, cleanup."""

from __future__ import annotations

import pytest

from sbems.listener.journal import Journal, JournalFull, JournalLocked, encode_record
from sbems.listener.pipeline import Inbound


def _messages(count: int, start: int = 0, size: int = 20) -> list[Inbound]:
    return [
        Inbound(f"sbems/building/hq/zone/z1/t{i}", (b"%06d" % i) * (size // 6 + 1), 1_700_000_000.0 + i)
        for i in range(start, start + count)
    ]


def _drain(journal: Journal, chunk: int = 7) -> list[Inbound]:
    out = []
    while journal.depth:
        records, position = journal.read_next(chunk)
        assert records
        out += records
        journal.commit(position, len(records))
    return out


def test_replay_returns_everything_in_order_and_cleans_up(tmp_path):
    journal = Journal(tmp_path, max_bytes=10**6, segment_max_bytes=600)
    first, second = _messages(10), _messages(15, start=10)
    journal.append(first)
    journal.append(second)
    assert journal.depth == 25
    assert len(list(tmp_path.glob("*.jnl"))) > 1  # small segments: several files
    assert _drain(journal) == first + second
    assert journal.depth == 0 and journal.size_bytes == 0
    assert list(tmp_path.glob("*.jnl")) == []


def test_reopened_journal_resumes_after_the_last_commit(tmp_path):
    journal = Journal(tmp_path, max_bytes=10**6)
    messages = _messages(20)
    journal.append(messages)
    records, position = journal.read_next(8)
    journal.commit(position, len(records))
    journal.close()  # e.g. the process was killed here
    reopened = Journal(tmp_path, max_bytes=10**6)
    assert reopened.depth == 12
    reopened.append(_messages(3, start=20))  # goes to a new segment, after the old ones
    assert _drain(reopened, chunk=5) == messages[8:] + _messages(3, start=20)


def test_torn_tail_is_ignored_and_the_rest_survives(tmp_path):
    journal = Journal(tmp_path, max_bytes=10**6)
    messages = _messages(5)
    journal.append(messages)
    journal.close()
    segment = next(tmp_path.glob("*.jnl"))
    torn = encode_record(_messages(1, start=99)[0])
    with open(segment, "ab") as handle:
        handle.write(torn[: len(torn) // 2])  # killed in the middle of a write
    reopened = Journal(tmp_path, max_bytes=10**6)
    assert reopened.depth == 5
    assert _drain(reopened) == messages


def test_corrupt_record_stops_the_segment_there(tmp_path):
    journal = Journal(tmp_path, max_bytes=10**6)
    journal.append(_messages(4))
    journal.close()
    segment = next(tmp_path.glob("*.jnl"))
    data = bytearray(segment.read_bytes())
    record_size = len(encode_record(_messages(1)[0]))
    data[2 * record_size + 12] ^= 0xFF  # flip a byte of the third record's body
    segment.write_bytes(bytes(data))
    assert Journal(tmp_path, max_bytes=10**6).depth == 2


def test_journal_is_bounded(tmp_path):
    one = len(encode_record(_messages(1)[0]))
    journal = Journal(tmp_path, max_bytes=one * 10)
    journal.append(_messages(8))
    with pytest.raises(JournalFull):
        journal.append(_messages(3, start=8))
    assert journal.depth == 8  # nothing partial was written
    assert journal.fill_frac == pytest.approx(0.8)
    _drain(journal)
    journal.append(_messages(10))  # space is freed by replay
    assert journal.depth == 10


def test_warns_loudly_when_filling(tmp_path, caplog):
    one = len(encode_record(_messages(1)[0]))
    journal = Journal(tmp_path, max_bytes=one * 10)
    journal.append(_messages(4))
    journal.warn_if_filling(100.0)
    assert not caplog.records
    journal.append(_messages(5, start=4))
    journal.warn_if_filling(200.0)
    assert any("JOURNAL FILLING: 90%" in r.getMessage() for r in caplog.records)
    caplog.clear()
    journal.warn_if_filling(201.0)  # not again within the interval
    assert not caplog.records


def test_binary_payloads_and_odd_topics_round_trip(tmp_path):
    journal = Journal(tmp_path, max_bytes=10**6)
    messages = [
        Inbound("sbems/ü/t", bytes(range(256)), 1.5),
        Inbound("t", b"", 2.0),
        Inbound("x" * 300, b"SJ" * 1000, 3.0),
    ]
    journal.append(messages)
    journal.close()
    assert _drain(Journal(tmp_path, max_bytes=10**6)) == messages


def test_one_process_per_journal(tmp_path):
    journal = Journal(tmp_path, max_bytes=10**6)
    with pytest.raises(JournalLocked):
        Journal(tmp_path, max_bytes=10**6)
    journal.close()
    Journal(tmp_path, max_bytes=10**6).close()  # free again once closed
