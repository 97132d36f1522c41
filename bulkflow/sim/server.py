"""Start and stop the simulator: in-process for tests and ``--sim``, or as its own process."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiohttp import web

from bulkflow.sim.app import BASE, FlowServiceApp
from bulkflow.sim.config import SimConfig
from bulkflow.sim.stats import Stats
from bulkflow.sim.store import KINDS, Store

HOST = "127.0.0.1"
FREEZE_EVERY_S = 2.0


class Simulator:
    """A running Flow Service simulator on 127.0.0.1.

    Example::

        async with Simulator(SimConfig(flows=100)) as sim:
            print(sim.base_url)           # http://127.0.0.1:PORT/data/foundation/flowservice
            sim.doc("flows", some_id)     # direct read access for assertions
    """

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.store = Store(self.config)
        self.store.seed()
        self.app = FlowServiceApp(self.config, self.store)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def root_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """The Flow Service root, what ``AEP_BASE_URL`` should be."""
        return self.root_url + BASE

    @property
    def ims_url(self) -> str:
        """The token endpoint, what ``AEP_IMS_URL`` should be."""
        return self.root_url + "/ims/token/v3"

    @property
    def stats(self) -> Stats:
        """Requests seen so far."""
        return self.app.stats

    def doc(self, kind: str, doc_id: str, sandbox: str | None = None) -> dict[str, Any] | None:
        """The current document, read directly (no HTTP, no faults)."""
        return self.store.get(sandbox or self.config.sandbox, kind, doc_id)

    def issue_token(self, client_id: str = "sim-client") -> str:
        """A bearer token as the IMS endpoint would issue it."""
        return self.app.tokens.issue(client_id)

    async def start(self) -> Simulator:
        """Listen on 127.0.0.1 (port 0 picks a free one)."""
        self._runner = web.AppRunner(self.app.build(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, self.config.port, backlog=1024)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        """Close the listener and every connection."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def serve(
    config: SimConfig, announce: bool = True, banner: Callable[[Simulator], str] | None = None
) -> None:
    """Run the simulator until SIGINT or SIGTERM (``bulkflow sim``).

    Once it listens it prints one line with its address (scripts read it), then ``banner``'s
    text: what a client needs to reach it.
    """
    started = time.perf_counter()
    sim = await Simulator(config).start()
    if announce:
        counts = {k: len(sim.store.docs(config.sandbox, k)) for k in KINDS}
        print(
            f"bulkflow simulator on {sim.root_url} (sandbox {config.sandbox}: "
            f"{counts['flows']} flows, {counts['connections']} connections; "
            f"ready in {time.perf_counter() - started:.2f}s)",
            flush=True,
        )
        extra = banner(sim) if banner is not None else default_banner(sim)
        print(extra, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    housekeeping = asyncio.create_task(keep_collections_short())
    try:
        await stop.wait()
    finally:
        housekeeping.cancel()
        await sim.stop()


def default_banner(sim: Simulator) -> str:
    """Where the Flow Service and its token endpoint are."""
    return f"  AEP_BASE_URL={sim.base_url}\n  AEP_IMS_URL={sim.ims_url}"


async def keep_collections_short(every_s: float = FREEZE_EVERY_S) -> None:
    """Keep the cyclic garbage collector from stalling a simulator process that runs for long.

    Documents clients write are kept (100,000 in a benchmark), and each full collection walked
    all of them: pauses of up to 250 ms were measured, during which every request in flight
    waited, the bare reference loop's included. They are plain JSON data that reference counting
    frees, so every few seconds the young generations are collected and whatever survived is
    moved out of the collector's sight. Only the standalone process does this (``gc.freeze``
    concerns the whole process), not a :class:`Simulator` inside a test run.
    """
    gc.freeze()
    while True:
        await asyncio.sleep(every_s)
        gc.collect(1)
        gc.freeze()
