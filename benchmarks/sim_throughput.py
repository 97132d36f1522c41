"""How fast the simulator serves a bare aiohttp client, and how fast it starts.

Run: ``.venv/bin/python benchmarks/sim_throughput.py`` (or ``make bench``). The simulator runs in
its own process at zero latency, so later benchmarks know it is not their bottleneck.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from benchmarks.common import SimProcess, bench_headers, machine, sim_process, write_section

FLOWS = 1000
CONCURRENCY = 64
REQUESTS = 20_000


async def _ids(
    session: aiohttp.ClientSession, sim: SimProcess, headers: dict[str, str]
) -> list[str]:
    ids: list[str] = []
    url = f"{sim.base_url}/flows?limit=100"
    while url:
        async with session.get(url, headers=headers) as resp:
            body = await resp.json()
        ids += [d["id"] for d in body["items"]]
        href = body["_links"].get("next", {}).get("href")
        url = f"{sim.base_url}{href}" if href else ""
    return ids


async def measure(sim: SimProcess, on_demand: bool = False) -> tuple[float, float]:
    """Requests per second for GETs alone and for GET+PATCH pairs."""
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:
        headers = await bench_headers(session, sim)
        ids = (
            [f"od-{n:06d}" for n in range(REQUESTS)]
            if on_demand
            else await _ids(session, sim, headers)
        )
        get_rps = await _run(session, sim, headers, ids, patch=False)
        pair_rps = await _run(session, sim, headers, ids, patch=True)
    return get_rps, pair_rps


async def _run(
    session: aiohttp.ClientSession,
    sim: SimProcess,
    headers: dict[str, str],
    ids: list[str],
    patch: bool,
) -> float:
    counter = iter(range(REQUESTS // (2 if patch else 1)))
    sent = 0

    async def worker() -> None:
        nonlocal sent
        for n in counter:
            url = f"{sim.base_url}/flows/{ids[n % len(ids)]}"
            async with session.get(url, headers=headers) as resp:
                etag = (await resp.json())["items"][0]["etag"]
            sent += 1
            if patch:
                ops = [{"op": "replace", "path": "/description", "value": f"bench {n}"}]
                extra = headers | {"If-Match": etag}
                async with session.patch(url, json=ops, headers=extra) as resp:
                    await resp.read()
                sent += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return sent / (time.perf_counter() - started)


def main() -> None:
    """Measure, print, and record in RESULTS.md."""
    with sim_process("--flows", str(FLOWS)) as sim:
        startup_s = sim.startup_s
        get_rps, pair_rps = asyncio.run(measure(sim))
    with sim_process("--on-demand") as sim:
        _, demand_rps = asyncio.run(measure(sim, on_demand=True))
    body = f"""
Machine: {machine()}. Command: `.venv/bin/python -m benchmarks.sim_throughput`.

| measure | value |
| --- | --- |
| `bulkflow sim --flows {FLOWS}`: process start to listening | {startup_s:.2f} s |
| GET /flows/{{id}}, bare aiohttp client, {CONCURRENCY} in flight, zero latency | {get_rps:,.0f} requests/s |
| GET + PATCH(If-Match) pairs, same client | {pair_rps:,.0f} requests/s |
| the same with `--on-demand` documents (as the engine benchmarks use) | {demand_rps:,.0f} requests/s |

The simulator runs in its own process on one core, the bare client on the other; a client that
needs fewer requests per second than this is not limited by the simulator's throughput. With a
latency, the simulator sleeps half of it before handling a request and the rest after, counted
from arrival, so its own handling time does not add to the latency clients see; each sleep
starts early by the lateness measured in its earlier wake-ups, so the mean is the configured
latency rather than about 1.5 ms more (asyncio rounds an idle wait up to the next
millisecond). Row 1r of the engine scenarios shows how close a bare client gets to
`concurrency / (2 × latency)` with it.
"""
    print(body)
    write_section("Simulator throughput", body)


if __name__ == "__main__":
    main()
