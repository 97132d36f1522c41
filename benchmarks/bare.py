"""The reference client: a bare aiohttp GET + PATCH(If-Match) loop, as its own process.

``python -m benchmarks.bare ROOT_URL PREFIX COUNT CONCURRENCY`` prints ``{"loop_rate": …}``
(flows per second inside the loop). Run through ``benchmarks.measure``, its wall time also gives
the rate of the whole process, start-up included, to compare with a bulkflow process.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aiohttp

from benchmarks.common import SimProcess, bench_headers


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


def main() -> None:
    """Run the loop against the simulator at ROOT_URL and print its rate."""
    root, prefix, count, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    rate = asyncio.run(bare_loop(SimProcess(root, 0.0, 0), prefix, count, concurrency))
    print(json.dumps({"loop_rate": rate}))


if __name__ == "__main__":
    main()
