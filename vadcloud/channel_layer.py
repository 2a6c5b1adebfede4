"""The Redis channel layer, with a process-local receive that a stopping consumer cannot make lose
a message.

channels_redis keeps every process-local channel of a server process (``specific.<id>!<n>``, one
per consumer) in ONE Redis sorted set, and a group message for several consumers of the process is
one entry there. Upstream, the consumers take turns popping that set inside their own
``receive()`` (``BZPOPMIN``, then a ``ZADD`` to a backup set, under a lock). A consumer that stops
while its ``receive()`` is the one popping, as every edge socket does when its device disconnects,
is cancelled mid-pop; an entry Redis has already popped for the process is then dropped, and
every consumer it was for misses it: in ``manage.py bench_edge`` all five alert walls of the
fan-out run missed the same alert when the devices disconnected (a real loss, not a late push).

Here one task per event loop and process queue (``_pump``) pops for every consumer of the process and puts each
message into its channels' buffers; a consumer's ``receive()`` only waits on its own buffer, and
cancelling that wait loses nothing. The pump runs while some consumer waits, and stops after its
current pop once none does (at most ``brpop_timeout`` later), never by cancellation. Everything
else (groups, capacity, expiry, sending) is channels_redis's.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels_redis.core import RedisChannelLayer as _UpstreamRedisChannelLayer

logger = logging.getLogger(__name__)


class RedisChannelLayer(_UpstreamRedisChannelLayer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # by (event loop, the process's Redis queue: new_channel(prefix) names one per prefix)
        self._pumps: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Task] = {}
        self._waiting: dict[tuple[asyncio.AbstractEventLoop, str], int] = {}

    async def receive(self, channel: str) -> dict[str, Any]:
        if "!" not in channel:  # a normal (shared) channel: upstream's receive, which pops it directly
            return await super().receive(channel)
        assert self.require_valid_channel_name(channel)
        real_channel = self.non_local_name(channel)
        assert real_channel.endswith(self.client_prefix + "!"), "Wrong client prefix"
        loop = asyncio.get_running_loop()
        key = (loop, real_channel)
        buffer = self.receive_buffer[channel]
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            if buffer.empty():
                pump = self._pumps.get(key)
                if pump is None or pump.done():
                    self._pumps[key] = loop.create_task(self._pump(key))
                return await buffer.get()
            return buffer.get_nowait()
        finally:
            self._waiting[key] -= 1
            if buffer.empty() and self.receive_buffer.get(channel) is buffer:
                del self.receive_buffer[channel]  # as upstream: no buffer kept for an idle channel

    async def _pump(self, key: tuple[asyncio.AbstractEventLoop, str]) -> None:
        """Pop the process's messages and buffer them by channel while any consumer waits."""
        real_channel = key[1]
        try:
            while self._waiting.get(key, 0) > 0:
                try:
                    message_channel, message = await self.receive_single(real_channel)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    if self._waiting.get(key, 0) == 0:  # e.g. the pools closed with the loop
                        return
                    logger.exception("channel_layer.receive_failed", extra={"channel": real_channel})
                    await asyncio.sleep(0.1)
                    continue
                for chan in message_channel if isinstance(message_channel, list) else [message_channel]:
                    self.receive_buffer[chan].put_nowait(message)
        finally:
            if self._waiting.get(key, 0) == 0:  # nobody waits: forget the loop (tests make many)
                self._waiting.pop(key, None)
                if self._pumps.get(key) is asyncio.current_task():
                    del self._pumps[key]
