"""What a plain `def` dependency costs: FastAPI runs it in its threadpool, an `async def` one runs
on the event loop. A/B in one run, interleaved rounds, in process (no network, no database):

    .venv/bin/python -m bench.dependency_hop_bench [--requests 4000] [--rounds 5]

Arm "async" resolves the services' own `shared.app.get_runtime`; arm "threadpool" overrides it
with the same body as a plain `def` (what it was before). Each route also takes a second
dependency of the same kind, as payments' `current_actor` does. Prints requests/s per arm and the
time per request the threadpool hops cost.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Request

from shared.app import get_runtime

RuntimeDep = Annotated[Any, Depends(get_runtime)]


def runtime_in_threadpool(request: Request) -> Any:
    return request.app.state.runtime


def actor_in_threadpool(runtime: RuntimeDep) -> Any:
    return runtime


async def actor_on_loop(runtime: RuntimeDep) -> Any:
    return runtime


def make_app(threadpool: bool) -> FastAPI:
    app = FastAPI()
    app.state.runtime = object()
    actor = actor_in_threadpool if threadpool else actor_on_loop

    @app.post("/certificates")
    async def create(who: Any = Depends(actor)) -> dict[str, bool]:  # noqa: B008 - a local, not a string
        return {"ok": who is not None}

    if threadpool:
        app.dependency_overrides[get_runtime] = runtime_in_threadpool
    return app


async def one_round(client: httpx.AsyncClient, n: int, concurrency: int) -> float:
    async def worker(k: int) -> None:
        for _ in range(k):
            r = await client.post("/certificates")
            assert r.status_code == 200, r.text

    started = time.perf_counter()
    await asyncio.gather(*(worker(n // concurrency) for _ in range(concurrency)))
    return n / (time.perf_counter() - started)


async def run(n: int, rounds: int, concurrency: int) -> None:
    arms = {"threadpool": make_app(True), "async": make_app(False)}
    clients = {k: httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://bench")
               for k, a in arms.items()}
    rates: dict[str, list[float]] = {k: [] for k in arms}
    try:
        for k in arms:  # warm-up
            await one_round(clients[k], n // 5, concurrency)
        for _ in range(rounds):
            for k in arms:
                rates[k].append(await one_round(clients[k], n, concurrency))
    finally:
        for c in clients.values():
            await c.aclose()
    median = {k: statistics.median(v) for k, v in rates.items()}
    for k, v in rates.items():
        print(f"{k:>10}: median {median[k]:,.0f} requests/s (rounds {', '.join(f'{x:,.0f}' for x in v)})")
    print(f"async / threadpool = {median['async'] / median['threadpool']:.2f}x; the two threadpool hops cost "
          f"{(1 / median['threadpool'] - 1 / median['async']) * 1e6:.0f} us per request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(run(args.requests, args.rounds, args.concurrency))


if __name__ == "__main__":
    main()
