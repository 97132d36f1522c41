"""Shared fixtures: a simulator factory on a loopback port and a raw HTTP helper."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest

from bulkflow import diagnostics
from bulkflow.sim import Faults, SimConfig, Simulator

DEST_FLOW = "226fb2e1-db69-4760-b67e-9e671e05abfc"
SOURCE_FLOW = "2edc08ac-4df5-4fe6-936f-81a19ce92f5c"
CONNECTION = "139f6a5f-a78b-4744-9f6a-5fa78bd74431"
CLIENT_ID = "test-client"


class Api:
    """Raw requests to a simulator, with the headers every Flow Service call carries."""

    def __init__(self, sim: Simulator, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.session = session
        self.token = sim.issue_token(CLIENT_ID)

    def headers(self, **extra: str) -> dict[str, str]:
        """The four required headers plus ``extra``."""
        return {
            "Authorization": f"Bearer {self.token}",
            "x-api-key": CLIENT_ID,
            "x-gw-ims-org-id": "TEST@AdobeOrg",
            "x-sandbox-name": "prod",
            **extra,
        }

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        """Send one request; return status, decoded JSON body (or None) and the response."""
        url = self.sim.base_url + path
        async with self.session.request(
            method, url, headers=self.headers() if headers is None else headers, **kwargs
        ) as resp:
            text = await resp.text()
            body = await resp.json() if text else None
            return resp.status, body, resp

    async def get(self, kind: str, doc_id: str) -> dict[str, Any]:
        """The document, asserting a 200."""
        status, body, _ = await self.request("GET", f"/{kind}/{doc_id}")
        assert status == 200, body
        doc: dict[str, Any] = body["items"][0]
        return doc

    async def patch(
        self, kind: str, doc_id: str, ops: Any, etag: str | None
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        """PATCH with ``If-Match: etag`` (left out when None)."""
        extra = {"Content-Type": "application/json"}
        if etag is not None:
            extra["If-Match"] = etag
        return await self.request("PATCH", f"/{kind}/{doc_id}", self.headers(**extra), json=ops)


SimFactory = Callable[..., Any]


@pytest.fixture(autouse=True)
def _quiet_diagnostics() -> None:
    """Diagnostics at warning level, as the CLI's default."""
    diagnostics.configure("warning", "json")


@pytest.fixture
async def make_sim() -> AsyncIterator[SimFactory]:
    """Start simulators on port 0 with the given config; all stop at the end of the test."""
    async with AsyncExitStack() as stack:

        async def factory(faults: Faults | None = None, **config: Any) -> Simulator:
            sim = Simulator(SimConfig(faults=faults or Faults(), **config))
            return await stack.enter_async_context(sim)

        yield factory


@pytest.fixture
async def sim(make_sim: SimFactory) -> Simulator:
    """A fault-free simulator with the three fixture documents."""
    started: Simulator = await make_sim()
    return started


@pytest.fixture
async def api(sim: Simulator) -> AsyncIterator[Api]:
    """Raw HTTP against the default simulator."""
    async with aiohttp.ClientSession() as session:
        yield Api(sim, session)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """One client session per test, closed at its end."""
    async with aiohttp.ClientSession() as opened:
        yield opened


@pytest.fixture
async def make_api() -> AsyncIterator[Callable[[Simulator], Api]]:
    """Raw HTTP helpers for simulators made with ``make_sim``."""
    async with aiohttp.ClientSession() as session:
        yield lambda sim: Api(sim, session)


def write_job(tmp_path: Any, body: dict[str, Any], name: str = "job.yaml") -> Any:
    """Write a job file (YAML) and return its path."""
    import yaml

    path = tmp_path / name
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return path


def job_body(targets: Any, changes: list[Any], **extra: Any) -> dict[str, Any]:
    """A minimal valid job with ``targets`` and ``changes``."""
    return {
        "version": 1,
        "name": "test-job",
        "resource": "flows",
        "targets": targets,
        "changes": changes,
        **extra,
    }


def fetched_ids(sim: Simulator, kind: str = "flows") -> set[str]:
    """Ids the simulator served by GET, alone or through ``property=id==a,b`` lists."""
    from urllib.parse import parse_qs, urlsplit

    ids: set[str] = set()
    for entry in sim.stats.journal:
        if entry.method != "GET" or f"/{kind}" not in entry.path:
            continue
        parts = urlsplit(entry.path)
        if parts.path.endswith(f"/{kind}"):
            for value in parse_qs(parts.query).get("property", []):
                if value.startswith("id=="):
                    ids.update(value[4:].split(","))
        else:
            ids.add(parts.path.rsplit("/", 1)[1])
    return ids
