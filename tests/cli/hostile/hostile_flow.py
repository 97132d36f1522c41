"""A hostile Flow Service + IMS on 127.0.0.1 for attack tests (and as a script for manual runs).

Every flow is a destination flow whose names are whatever the attacker chooses.
Run as a script: python -m tests.cli.hostile.hostile_flow CONFIG.json  (prints the port)
"""

from __future__ import annotations

import asyncio
import copy
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

BASE = "/data/foundation/flowservice"
RETIRED = "9f7d37fd-7039-4454-94ef-2b0cd6c3206a"


def flow(flow_id: str, name: str, segment_name: str, etag: str = '"e-1"') -> dict[str, Any]:
    return {
        "id": flow_id,
        "name": name,
        "state": "enabled",
        "etag": etag,
        "inheritedAttributes": {"properties": {"isDestinationFlow": True}},
        "transformations": [
            {
                "name": "GeneralTransform",
                "params": {
                    "segmentSelectors": {
                        "selectors": [
                            {
                                "type": "PLATFORM_SEGMENT",
                                "value": {"id": RETIRED, "name": segment_name},
                            }
                        ]
                    }
                },
            }
        ],
    }


@dataclass
class HostileFlows:
    docs: dict[str, dict[str, Any]] = field(default_factory=dict)
    token: str = "tok-hostile-0000"
    ims_echo: str | None = None  # an IMS error body (status 400) instead of a token
    error_body: str | None = None  # a GET answered 400 with this body
    port: int = 0
    seen: list[str] = field(default_factory=list)
    hook: Callable[[web.Request], Awaitable[None]] | None = None  # runs before each answer

    async def handle(self, request: web.Request) -> web.StreamResponse:  # noqa: C901 - a fake
        self.seen.append(f"{request.method} {request.path_qs}")
        path = request.path
        if self.hook is not None:
            await self.hook(request)
        if path.endswith("/ims/token/v3"):
            if self.ims_echo is not None:
                return web.Response(status=400, text=self.ims_echo, content_type="application/json")
            return web.json_response({"access_token": self.token, "expires_in": 86399})
        if not path.startswith(BASE):
            return web.json_response({}, status=404)
        rest = path[len(BASE) :].strip("/").split("/")
        if self.error_body is not None:
            return web.Response(status=400, text=self.error_body, content_type="application/json")
        if len(rest) == 1 and request.method == "GET":
            wanted = None
            for key, value in request.query.items():
                if key == "property" and value.startswith("id=="):
                    wanted = set(value[4:].split(","))
            items = [d for i, d in self.docs.items() if wanted is None or i in wanted]
            return web.json_response({"items": items})
        if len(rest) == 2 and request.method == "GET":
            doc = self.docs.get(rest[1])
            if doc is None:
                return web.json_response({"message": "not found"}, status=404)
            return web.json_response({"items": [doc]})
        if len(rest) == 2 and request.method == "PATCH":
            return web.json_response({"id": rest[1], "etag": '"e-2"'})
        return web.json_response({}, status=404)


@asynccontextmanager
async def serve(server: HostileFlows) -> AsyncIterator[HostileFlows]:
    app = web.Application(client_max_size=1 << 30)
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", server.port).start()
    server.port = int(runner.addresses[0][1])
    try:
        yield server
    finally:
        await runner.cleanup()


def env_for(server: HostileFlows, **extra: str) -> dict[str, str]:
    origin = f"http://127.0.0.1:{server.port}"
    return {
        "AEP_BASE_URL": origin + BASE,
        "AEP_IMS_URL": origin + "/ims/token/v3",
        "AEP_CLIENT_ID": "client-id",
        "AEP_CLIENT_SECRET": "client-secret-value-1234",
        "AEP_ORG_ID": "ORG@AdobeOrg",
        **extra,
    }


async def _main(config_path: str) -> None:
    config = json.loads(Path(config_path).read_text())
    server = HostileFlows(port=config.get("port", 0), token=config.get("token", "tok-hostile-0000"))
    server.ims_echo = config.get("ims_echo")
    server.error_body = config.get("error_body")
    for doc in config["docs"]:
        server.docs[doc["id"]] = copy.deepcopy(doc)
    async with serve(server):
        print(server.port, flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1]))
