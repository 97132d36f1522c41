"""A tiny server on 127.0.0.1 that answers whatever a test tells it to, and what it saw."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import SecretStr

from bulkflow.flowservice.auth import StaticToken
from bulkflow.flowservice.settings import Settings

Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]
BASE = "/data/foundation/flowservice"


async def _empty(request: web.Request) -> web.StreamResponse:
    return web.json_response({})


@dataclass
class Hostile:
    """One server: ``answer`` handles every request; ``seen`` lists ``(method, path_qs)``."""

    answer: Answer = _empty
    seen: list[tuple[str, str]] = field(default_factory=list)
    port: int = 0

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What ``AEP_BASE_URL`` would be."""
        return self.origin + BASE

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.method, request.path_qs))
        return await self.answer(request)


@asynccontextmanager
async def hostile_server(
    answer: Answer = _empty, tls: ssl.SSLContext | None = None
) -> AsyncIterator[Hostile]:
    """Serve ``answer`` on a free loopback port (over TLS with ``tls``) until the block ends."""
    server = Hostile(answer)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server._handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls).start()
    server.port = int(runner.addresses[0][1])
    try:
        yield server
    finally:
        await runner.cleanup()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, read, closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def settings_for(base_url: str, **extra: object) -> Settings:
    """Settings pointing at ``base_url`` with a fixed token."""
    values: dict[str, object] = {
        "base_url": base_url,
        "client_id": "hostile-test",
        "org_id": "TEST@AdobeOrg",
        "access_token": SecretStr("hostile-test-token"),
    }
    return Settings(**(values | extra))  # type: ignore[arg-type]


def static_token() -> StaticToken:
    """The token :func:`settings_for` names."""
    return StaticToken(SecretStr("hostile-test-token"))
