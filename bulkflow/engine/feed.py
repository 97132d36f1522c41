"""Feeding targets to the workers, one by one or fetched 100 at a time (one request per target).

The list endpoints accept ``property=id==a,b,c`` (research notes §3), so a batch of up to 100
targets costs one GET. :class:`BatchFeed` fetches batches just ahead of the workers; each
target is planned from its listed document and PATCHed with its etag, so a target then costs
about one round trip. A 412 falls back to a single GET and re-plan as usual, and a target the
list did not return (or a failed list call) is fetched alone, so correctness is unchanged.

Two batches are fetched at a time (:data:`AHEAD`): with one, the workers waited whenever a list
answer took longer than they took to work through the batch before it, which at zero latency
(the server busy with the workers' PATCHes, and building 100 documents) was most of the time.
At most ``(AHEAD + 1) × 100`` targets are held ahead of the workers, whatever the run's size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

import anyio
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from bulkflow.errors import TargetError
from bulkflow.flowservice.client import MAX_PAGE, FlowClient
from bulkflow.job.targets import Target

log = structlog.get_logger("bulkflow.engine.feed")
Prefetched = tuple[dict[str, Any], str]
Item = tuple[Target, Prefetched | None]
BATCH_SIZE = MAX_PAGE
AHEAD = 2  # list requests in flight at once


class DirectFeed:
    """Targets straight from the iterator; each worker GETs its own."""

    def __init__(self, targets: Iterator[Target]) -> None:
        self._targets = targets

    async def next(self) -> Item | None:
        """The next target, or None when there are no more."""
        target = next(self._targets, None)
        return None if target is None else (target, None)

    async def run(self, stopping: Callable[[], bool]) -> None:
        """Nothing to do in the background."""

    def close(self) -> None:
        """Nothing to release."""


class BatchFeed:
    """Targets with their documents, listed ``BATCH_SIZE`` at a time just ahead of the workers."""

    def __init__(
        self, client: FlowClient, kind: str, targets: Iterator[Target], batch_size: int = BATCH_SIZE
    ) -> None:
        self._client = client
        self._kind = kind
        self._targets = targets
        self._batch_size = batch_size
        send: MemoryObjectSendStream[Item]
        receive: MemoryObjectReceiveStream[Item]
        send, receive = anyio.create_memory_object_stream(max_buffer_size=batch_size)
        self._send, self._receive = send, receive
        self._handing_over = anyio.Lock()  # a batch goes to the workers whole, in one piece
        self.batches = 0

    async def next(self) -> Item | None:
        """The next target and its listed document (None when it was not listed)."""
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return None

    async def run(self, stopping: Callable[[], bool]) -> None:
        """Fetch batches until the targets run out, the run stops, or the workers are gone."""
        async with self._send, anyio.create_task_group() as group:
            for _ in range(AHEAD):
                group.start_soon(self._fetch_batches, stopping)

    async def _fetch_batches(self, stopping: Callable[[], bool]) -> None:
        """One of the :data:`AHEAD` fetchers: take the next batch, list it, hand it over."""
        while not stopping():
            chunk = list(islice(self._targets, self._batch_size))
            if not chunk:
                return
            documents = await self._fetch(chunk)
            try:
                async with self._handing_over:
                    for target in chunk:
                        await self._send.send((target, documents.get(target.id)))
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                return

    def close(self) -> None:
        """Stop accepting targets (the workers are done)."""
        self._receive.close()

    async def _fetch(self, chunk: list[Target]) -> dict[str, Prefetched]:
        self.batches += 1
        try:
            return await self._client.get_many(self._kind, [t.id for t in chunk])
        except TargetError as exc:
            log.warning(
                "batch.fetch_failed", targets=len(chunk), reason=exc.kind, status=exc.status
            )
            return {}
