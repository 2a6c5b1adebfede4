"""Group commit for edge ingest: one database commit serves every frame that is waiting.

One frame per transaction costs one commit each: on PostgreSQL a WAL flush (a few ms), so a
process could never ack more frames per second than it can flush commits. The ``IngestWriter``
of each server process takes the frames of *all* its edge connections that queued up while the
previous commit was in flight and writes them in ONE transaction with a fixed number of queries
(``detection.ingest.edge_ingest_group``: lock the devices, read their cameras, zones and known
alerts, one insert, one update of alerts, one update of devices), however many devices and frames
the group holds. Every frame's ack is released only after the shared commit returned. A revoked
device in the group is refused alone; if the shared transaction fails, each frame of the group is
written again on its own (``edge_ingest`` with its retries), so one bad frame loses nothing.

Under light load a group is one frame and nothing waits; under heavy load groups grow up to
``EDGE_INGEST_GROUP_MAX`` frames (default 256) and throughput no longer depends on commit latency.

The alert walls hear of a group's alerts after its commit, from the event loop: one
``alerts.changed`` channel-layer message per tenant per group (at most ``PUSH_CHUNK`` alerts
each; the groups that committed while the previous send was in flight share one), never one per
event or per frame. Sending from the writer thread instead would cost a
fresh event loop and Redis connection per send (``async_to_sync``), about 15 ms each, during which
nothing is written.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, connection, transaction

from detection import ingest
from detection.live import alert_group

logger = logging.getLogger(__name__)


PUSH_CHUNK = 500  # alerts per alert-wall message (a channel-layer message stays well under 1 MB)


def group_max() -> int:
    return int(getattr(settings, "EDGE_INGEST_GROUP_MAX", 256))


@dataclass
class _Job:
    device_id: int
    tenant_id: int
    messages: list[Any]
    rejected: list[tuple[int, str]]
    done: asyncio.Future


def _write_group(jobs: list[_Job]) -> tuple[list[Any], dict[int, list[dict[str, Any]]]]:
    """Each job's IngestResult (or the exception refusing its device), all committed together,
    and the alert-wall rows of what was committed, by tenant."""
    items = [ingest.DeviceFrames.of(device_id=j.device_id, tenant_id=j.tenant_id, messages=j.messages,
                                    rejected=j.rejected) for j in jobs]
    try:
        with transaction.atomic():
            return ingest.edge_ingest_group(items)
    except Exception:  # noqa: BLE001 - the shared commit failed: write every frame on its own
        logger.warning("edge.group_commit_failed", extra={"frames": len(jobs)}, exc_info=True)
    outcomes: list[Any] = []
    pushes: dict[int, list[dict[str, Any]]] = {}
    for job in jobs:
        try:
            result = ingest.edge_ingest(device_id=job.device_id, tenant_id=job.tenant_id,
                                        messages=job.messages, rejected=job.rejected)
        except Exception as err:  # noqa: BLE001 - this frame is answered with its failure
            outcomes.append(err)
            continue
        outcomes.append(result)
        pushes.setdefault(job.tenant_id, []).extend(result.pushes)
    return outcomes, pushes


def _write_group_fresh(jobs: list[_Job]) -> tuple[list[Any], dict[int, list[dict[str, Any]]]]:
    close_old_connections()  # what Channels' database_sync_to_async does around each call
    try:
        return _write_group(jobs)
    finally:
        close_old_connections()


async def _push(pushes: dict[int, list[dict[str, Any]]]) -> None:
    """The committed alerts to each tenant's walls (detection.consumers filters by visibility)."""
    layer = get_channel_layer()
    if layer is None:
        return
    for tenant_id, payloads in pushes.items():
        for i in range(0, len(payloads), PUSH_CHUNK):
            try:
                await layer.group_send(alert_group(tenant_id),
                                       {"type": "alerts.changed", "alerts": payloads[i:i + PUSH_CHUNK]})
            except Exception:  # noqa: BLE001 - the alerts are committed; walls re-read on reconnect
                logger.exception("edge.alert_push_failed", extra={"tenant_id": tenant_id})


class IngestWriter:
    """One per event loop (a server process has one; each test's loop gets its own)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Job] | None = None
        self._pushes: asyncio.Queue[dict[int, list[dict[str, Any]]]] = asyncio.Queue()
        self._task: asyncio.Task | None = None
        self._pusher: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None

    async def _write(self, jobs: list[_Job]) -> tuple[list[Any], dict[int, list[dict[str, Any]]]]:
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

    def enqueue(self, *, device_id: int, tenant_id: int, messages: list[Any],
                rejected: list[tuple[int, str]]) -> asyncio.Future:
        """Queue one frame; the future holds its ``IngestResult`` once the commit holding it
        returned (or the exception refusing it). Called from the event loop; no task per frame."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            self._loop, self._queue, self._pushes = loop, asyncio.Queue(), asyncio.Queue()
            self._task = loop.create_task(self._run(self._queue))
            self._pusher = loop.create_task(self._push_in_order(self._pushes))
        job = _Job(device_id, tenant_id, messages, rejected, loop.create_future())
        assert self._queue is not None
        self._queue.put_nowait(job)  # unbounded: each connection bounds its own frames in flight
        return job.done

    async def submit(self, *, device_id: int, tenant_id: int, messages: list[Any],
                     rejected: list[tuple[int, str]]) -> Any:
        """Write one frame; returns its ``IngestResult`` once the commit holding it returned."""
        return await self.enqueue(device_id=device_id, tenant_id=tenant_id, messages=messages, rejected=rejected)

    async def _run(self, queue: asyncio.Queue[_Job]) -> None:
        while True:
            jobs = [await queue.get()]
            most = group_max()  # a settings lookup: once per group, not per frame
            while len(jobs) < most and not queue.empty():
                jobs.append(queue.get_nowait())
            pushes: dict[int, list[dict[str, Any]]] = {}
            try:
                outcomes, pushes = await self._write(jobs)
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
            if pushes:  # after the commit: the walls hear of committed alerts only, in commit order
                self._pushes.put_nowait(pushes)

    async def _push_in_order(self, pushes: asyncio.Queue[dict[int, list[dict[str, Any]]]]) -> None:
        """Alert-wall sends on a task of their own, so the next group is written meanwhile. The
        groups committed while a send was in flight go out together (one message per tenant, in
        commit order), so a slow channel layer makes fewer, larger sends instead of a backlog."""
        while True:
            merged = await pushes.get()
            while not pushes.empty():
                for tenant_id, payloads in pushes.get_nowait().items():
                    merged.setdefault(tenant_id, []).extend(payloads)
            await _push(merged)


writer = IngestWriter()
