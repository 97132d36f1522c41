"""The reference clients: bare aiohttp loops with no planning, logging or retries, as their own
process.

``python -m benchmarks.bare ROOT_URL PREFIX COUNT CONCURRENCY [batched]`` prints
``{"loop_rate": …}`` (flows per second inside the loop). Without ``batched`` each worker GETs a
flow and PATCHes it with its etag; with it, two tasks list the flows 100 at a time
(``property=id==…``) just ahead of the workers, which only PATCH: the same shape as bulkflow's
batch fetch. Run through ``benchmarks.measure``, its wall time also gives the rate of the whole
process, start-up included, to compare with a bulkflow process.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp

from benchmarks.common import SimProcess, bench_headers

BATCH = 100  # the list endpoints' largest page, as bulkflow's batch fetch uses
LISTERS = 2  # list requests in flight at once, as bulkflow's batch feed keeps


async def bare_loop(sim: SimProcess, prefix: str, count: int, concurrency: int) -> float:
    """GET + PATCH(If-Match) per flow, no planning, logging or retries; flows per second."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        headers = await bench_headers(session, sim)
        ids = iter(range(count))
        ops = b'[{"op":"replace","path":"/description","value":"bare"}]'

        async def worker() -> None:
            for n in ids:
                url = f"{sim.base_url}/flows/{prefix}-{n:06d}"
                async with session.get(url, headers=headers) as resp:
                    etag = (await resp.json())["items"][0]["etag"]
                patch_headers = headers | {"If-Match": etag, "Content-Type": "application/json"}
                async with session.patch(url, data=ops, headers=patch_headers) as resp:
                    await resp.read()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.perf_counter() - started)


async def bare_batched_loop(sim: SimProcess, prefix: str, count: int, concurrency: int) -> float:
    """Lists of 100 flows (two at a time, ahead of the workers) and a PATCH per flow; flows/s.

    The listers and the workers share ``concurrency`` connections, as bulkflow's batch feed and
    workers share its ``--concurrency`` (every request in flight counts).
    """
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        headers = await bench_headers(session, sim)
        listed: asyncio.Queue[tuple[str, str] | None] = asyncio.Queue(maxsize=BATCH)
        starts = iter(range(0, count, BATCH))
        ops = b'[{"op":"replace","path":"/description","value":"bare"}]'

        async def lister() -> None:
            for start in starts:
                ids = [f"{prefix}-{n:06d}" for n in range(start, min(start + BATCH, count))]
                params = {"property": "id==" + ",".join(ids), "limit": str(len(ids))}
                url = f"{sim.base_url}/flows"
                async with session.get(url, params=params, headers=headers) as resp:
                    items = (await resp.json())["items"]
                for doc in items:
                    await listed.put((doc["id"], doc["etag"]))

        async def worker() -> None:
            while (item := await listed.get()) is not None:
                flow_id, etag = item
                patch_headers = headers | {"If-Match": etag, "Content-Type": "application/json"}
                url = f"{sim.base_url}/flows/{flow_id}"
                async with session.patch(url, data=ops, headers=patch_headers) as resp:
                    await resp.read()

        async def list_then_stop() -> None:
            await asyncio.gather(*(lister() for _ in range(LISTERS)))
            for _ in range(concurrency):
                await listed.put(None)

        started = time.perf_counter()
        await asyncio.gather(list_then_stop(), *(worker() for _ in range(concurrency)))
        return count / (time.perf_counter() - started)


def main() -> None:
    """Run the loop against the simulator at ROOT_URL and print its rate."""
    root, prefix, count, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    loop = bare_batched_loop if sys.argv[5:] == ["batched"] else bare_loop
    rate = asyncio.run(loop(SimProcess(root, 0.0, 0), prefix, count, concurrency))
    print(json.dumps({"loop_rate": rate}))


if __name__ == "__main__":
    main()
