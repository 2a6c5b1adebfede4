"""Durable outbox: seq = row id (never reused), ack / dead letter, bump after the cloud's last seq,
bounded size (health first, events last, drops counted) and survival across a process kill."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edge_agent.errors import EdgeError
from edge_agent.protocol import MAX_FRAME_BYTES, AckResult, EventOpen, Heartbeat, StreamStatus, parse_from_edge
from edge_agent.transport.outbox import Outbox

REPO = Path(__file__).resolve().parents[2]


def _status(i: int = 0) -> StreamStatus:
    return StreamStatus(camera_id="7", status="opened", ts=float(i), detail=f"n{i}")


def _event(i: int = 0, pad: int = 0) -> EventOpen:
    return EventOpen(event_id=f"ev-{i:08d}", camera_id="7", peak_ts=1.0, peak_score=2.0, votes=2, k=2, threshold=1,
                     frame_index=i, start_ts=0.5, rule="x" * min(pad, 64), zone="z" * min(pad, 200))


def _beat(i: int = 0) -> Heartbeat:
    return Heartbeat(ts=float(i), agent_version="0.1.0", runtimes=["r" * 150] * 40)  # ~6 KB


def test_put_assigns_increasing_seqs_stored_in_the_json(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    seqs = [box.put(_status(i)) for i in range(3)]
    assert seqs == [1, 2, 3]
    rows = box.rows_after(0)
    assert [r.seq for r in rows] == seqs
    parsed = [parse_from_edge(r.body) for r in rows]  # valid v2 messages, seq inside
    assert [m.seq for m in parsed] == seqs and parsed[1].detail == "n1"
    assert [r.seq for r in box.rows_after(1)] == [2, 3]
    assert box.stats()["outbox_depth"] == 3 and box.stats()["outbox_bytes"] == sum(r.size for r in rows)
    box.put(StreamStatus(camera_id="7", status="lost", ts=0, detail="caméra été coupée"))  # sizes are UTF-8 bytes
    row = box.rows_after(3)[0]
    assert row.size == len(row.body.encode()) and parse_from_edge(row.body).detail == "caméra été coupée"


def test_ack_deletes_acked_rows_and_seqs_are_never_reused(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    for i in range(3):
        box.put(_status(i))
    assert box.ack(3, []) == 3 and box.pending() == 0 and box.acked_seq == 3
    box.close()
    again = Outbox(tmp_path / "o.sqlite3")  # AUTOINCREMENT: even after the newest rows are deleted
    assert again.put(_status()) == 4
    assert again.acked_seq == 3


def test_a_rejected_message_moves_to_dead_letter_with_the_error_and_later_ones_stay(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    for i in range(4):
        box.put(_status(i))
    box.ack(3, [AckResult(seq=1, status="ok"), AckResult(seq=2, status="rejected", error="unknown camera '7'"),
                AckResult(seq=3, status="duplicate")])
    assert [r.seq for r in box.rows_after(0)] == [4]  # not acked yet: kept
    dead = box.dead_letters()
    assert [(d.seq, d.type, d.error) for d in dead] == [(2, "stream_status", "unknown camera '7'")]
    assert json.loads(dead[0].body)["detail"] == "n1"
    assert box.stats()["dead_letters"] == 1


def test_bump_sequence_puts_the_next_seq_after_the_clouds_last_seq(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    assert box.put(_status()) == 1
    box.mark_sent(1)
    box.ack(1)
    box.bump_sequence(500)  # e.g. a reinstall: the cloud already holds seqs up to 500
    assert box.put(_status()) == 501
    box.bump_sequence(10)  # a lower last_seq never moves the sequence back
    assert box.put(_status()) == 502


def test_bump_sequence_renumbers_unsent_rows_the_cloud_would_take_for_duplicates(tmp_path):
    box = Outbox(tmp_path / "fresh.sqlite3")  # fresh outbox after a reinstall: queued before the first welcome
    for i in range(3):
        box.put(_status(i))
    assert box.bump_sequence(40) == 3
    rows = box.rows_after(0)
    assert [r.seq for r in rows] == [41, 42, 43]
    assert [parse_from_edge(r.body).seq for r in rows] == [41, 42, 43]
    assert [parse_from_edge(r.body).detail for r in rows] == ["n0", "n1", "n2"]  # same order, same content
    assert box.put(_status()) == 44
    # positive control: rows already sent and covered by last_seq were delivered -> removed, not renumbered
    box.mark_sent(44)
    assert box.bump_sequence(42) == 0
    assert [r.seq for r in box.rows_after(0)] == [43, 44]


def test_when_full_heartbeats_go_first_then_stream_status_and_events_last(tmp_path, caplog):
    box = Outbox(tmp_path / "o.sqlite3", max_bytes=MAX_FRAME_BYTES)
    ev = box.put(_event(0))
    box.put(_status(0))
    while box.stats()["outbox_bytes"] + 7000 < MAX_FRAME_BYTES:
        box.put(_beat())
    beats_before = sum(r.type == "heartbeat" for r in box.rows_after(0, limit=10_000, max_bytes=10**9))
    box.put(_beat())
    box.put(_beat())
    stats = box.stats()
    assert stats["outbox_bytes"] <= MAX_FRAME_BYTES and stats["dropped_by_policy"] >= 1
    types = [r.type for r in box.rows_after(0, limit=10_000, max_bytes=10**9)]
    assert types[:2] == ["event_open", "stream_status"]  # older than every heartbeat, yet kept
    assert sum(t == "heartbeat" for t in types) <= beats_before + 1
    assert "outbox full" in caplog.text  # logged, never silent
    # only events left: the oldest events go, counted
    small = Outbox(tmp_path / "events.sqlite3", max_bytes=MAX_FRAME_BYTES)
    n = 0
    while small.stats()["dropped_by_policy"] == 0:
        small.put(_event(n, pad=200))
        n += 1
    kept = [parse_from_edge(r.body).frame_index for r in small.rows_after(0, limit=10_000, max_bytes=10**9)]
    assert kept[0] == 1 and kept[-1] == n - 1 and ev == 1


def test_a_message_larger_than_one_frame_is_dead_lettered_not_silently_lost(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    seq = box.put(Heartbeat(ts=0, agent_version="0.1.0", model_versions={f"m{i}": "v" * 100 for i in range(3000)}))
    assert box.pending() == 0 and box.dead_letters()[0].seq == seq and "larger than one frame" in box.dead_letters()[0].error
    assert box.put(_status()) == seq + 1  # positive control: the next message queues normally


def test_bad_input_gets_a_clear_error(tmp_path):
    with pytest.raises(EdgeError, match="at least"):
        Outbox(tmp_path / "o.sqlite3", max_bytes=10)
    from edge_agent.protocol import Hello

    with pytest.raises(EdgeError, match="no seq field"):
        Outbox().put(Hello(device_id=1, agent_version="x", signature="s"))
    (tmp_path / "junk.sqlite3").write_bytes(b"not a database at all" * 100)
    with pytest.raises(EdgeError, match="junk.sqlite3"):
        Outbox(tmp_path / "junk.sqlite3")


def test_pending_rows_survive_a_process_kill(tmp_path):
    path = tmp_path / "outbox.sqlite3"
    code = textwrap.dedent(f"""
        import os
        from edge_agent.protocol import StreamStatus
        from edge_agent.transport.outbox import Outbox
        box = Outbox({str(path)!r})
        for i in range(50):
            box.put(StreamStatus(camera_id="7", status="opened", ts=float(i)))
        box.ack(10)
        os._exit(9)  # no close, no atexit: a kill right after the puts returned
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 9, out.stderr
    box = Outbox(path)
    rows = box.rows_after(0, limit=1000)
    assert [r.seq for r in rows] == list(range(11, 51))
    assert box.acked_seq == 10 and box.put(_status()) == 51


def bench_put_throughput(n: int = 20_000, path: Path | None = None) -> dict[str, float]:
    """Camera-side cost of one put (WAL file): ``python -m tests.edge_agent.test_outbox``."""
    import tempfile
    import time

    d = Path(tempfile.mkdtemp()) if path is None else path
    box = Outbox(d / "bench.sqlite3")
    msg = _event(1)
    t0 = time.perf_counter()
    for _ in range(n):
        box.put(msg)
    dt = time.perf_counter() - t0
    return {"puts": n, "puts_per_s": round(n / dt), "us_per_put": round(dt / n * 1e6, 1)}


if __name__ == "__main__":
    print(json.dumps(bench_put_throughput()))
