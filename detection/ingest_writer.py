"""Group commit for edge ingest: one database commit serves every frame that is waiting.

One frame per transaction costs one commit each: on PostgreSQL a WAL flush (a few ms), so a
process could never ack more frames per second than it can flush commits. The ``IngestWriter``
of each server process takes the frames of *all* its edge connections that queued up while the
previous commit was in flight and writes them in ONE transaction: the frames of one device are
written as one (one device lock, one camera and alert lookup, one bulk insert), each device in its
own savepoint (``edge_ingest``'s ``atomic()`` nests), so a device whose write fails rolls back
alone. Every frame's
ack is released only after the shared commit returned; hooks registered by a frame (the alert-wall
push) run after that commit too. If the shared commit itself fails, each frame of the group is
written again on its own (``edge_ingest`` with its retries), so one bad group loses nothing.

Under light load a group is one frame and nothing waits; under heavy load groups grow up to
``EDGE_INGEST_GROUP_MAX`` frames (default 256) and throughput no longer depends on commit latency.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection, transaction

from detection import ingest
from edge_agent.protocol import Ack

logger = logging.getLogger(__name__)


def group_max() -> int:
    return int(getattr(settings, "EDGE_INGEST_GROUP_MAX", 256))


@dataclass
class _Job:
    device_id: int
    tenant_id: int
    messages: list[Any]
    rejected: list[tuple[int, str]]
    done: asyncio.Future


def _merged(jobs: list[_Job]) -> list[tuple[int, int, list[_Job]]]:
    """The group's frames by device, in arrival order: one device's frames are written as one."""
    by_device: dict[tuple[int, int], list[_Job]] = {}
    for job in jobs:
        by_device.setdefault((job.device_id, job.tenant_id), []).append(job)
    return [(device_id, tenant_id, frames) for (device_id, tenant_id), frames in by_device.items()]


def _split(result: Any, frames: list[_Job]) -> list[Any]:
    """One device's IngestResult cut back into one per frame: each frame's ack carries the results
    of its own messages; its seq is the cumulative seq of the commit (every seq <= it is handled)."""
    out = []
    for frame in frames:
        seqs = {m.seq for m in frame.messages if m.seq is not None} | {seq for seq, _ in frame.rejected}
        mine, seen = [], set()
        for r in result.results:
            if r.seq in seqs and r.seq not in seen:
                mine.append(r)
                seen.add(r.seq)
        ack = Ack(seq=result.ack.seq, results=mine)
        out.append(ingest.IngestResult(ack=ack, alerts_changed=result.alerts_changed, results=mine))
    return out


def _write_device(device_id: int, tenant_id: int, frames: list[_Job]) -> list[Any]:
    try:
        result = ingest.edge_ingest(device_id=device_id, tenant_id=tenant_id,
                                    messages=[m for f in frames for m in f.messages],
                                    rejected=[r for f in frames for r in f.rejected])
    except Exception as err:  # noqa: BLE001 - this device's savepoint rolled back; its frames are told
        return [err] * len(frames)
    return _split(result, frames)


def _write_group(jobs: list[_Job]) -> list[Any]:
    """Each job's IngestResult (or the exception it raised), all committed together."""
    outcome: dict[int, Any] = {}
    try:
        with transaction.atomic():
            for device_id, tenant_id, frames in _merged(jobs):
                for frame, result in zip(frames, _write_device(device_id, tenant_id, frames), strict=True):
                    outcome[id(frame)] = result
    except Exception:  # noqa: BLE001 - the shared commit failed: write every frame on its own
        logger.warning("edge.group_commit_failed", extra={"frames": len(jobs)}, exc_info=True)
        for job in jobs:
            outcome[id(job)] = _write_device(job.device_id, job.tenant_id, [job])[0]
    return [outcome[id(job)] for job in jobs]


def _write_group_fresh(jobs: list[_Job]) -> list[Any]:
    close_old_connections()  # what Channels' database_sync_to_async does around each call
    try:
        return _write_group(jobs)
    finally:
        close_old_connections()


class IngestWriter:
    """One per event loop (a server process has one; each test's loop gets its own)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def _write(self, jobs: list[_Job]) -> list[Any]:
        """Run the group's transaction off the event loop.

        Not on Channels' shared database thread: every consumer awaits that thread before each
        message it dispatches (``aclose_old_connections``), so a long group write there would
        make every connection wait to read its next frame, and no group would ever grow past one
        frame per connection. The writer has a thread (and database connection) of its own. On
        SQLite (one writer at a time anyway; the tests' shared in-memory database) it stays on
        the shared thread.
        """
        if connection.vendor == "sqlite":
            return await database_sync_to_async(_write_group)(jobs)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edge-ingest-writer")
        return await sync_to_async(_write_group_fresh, thread_sensitive=False, executor=self._executor)(jobs)

    async def submit(self, *, device_id: int, tenant_id: int, messages: list[Any],
                     rejected: list[tuple[int, str]]) -> Any:
        """Write one frame; returns its ``IngestResult`` once the commit holding it returned."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            self._loop, self._queue = loop, asyncio.Queue()
            self._task = loop.create_task(self._run(self._queue))
        job = _Job(device_id, tenant_id, messages, rejected, loop.create_future())
        assert self._queue is not None
        await self._queue.put(job)
        return await job.done

    async def _run(self, queue: asyncio.Queue[_Job]) -> None:
        while True:
            jobs = [await queue.get()]
            while len(jobs) < group_max() and not queue.empty():
                jobs.append(queue.get_nowait())
            try:
                outcomes = await self._write(jobs)
            except Exception as err:  # noqa: BLE001 - never let the writer die: fail these frames
                logger.exception("edge.group_write_failed")
                outcomes = [err] * len(jobs)
            for job, outcome in zip(jobs, outcomes, strict=True):
                if job.done.cancelled():
                    continue
                if isinstance(outcome, BaseException):
                    job.done.set_exception(outcome)
                else:
                    job.done.set_result(outcome)


writer = IngestWriter()
