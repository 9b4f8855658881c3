"""Payee accounts into the registry: the single route vs the bulk route, in one run.

    .venv/bin/python -m bench.payee_accounts_bench [--accounts 5000] [--concurrency 16] [--batch 1000]
        [--routes single,bulk]

Starts the embedded PostgreSQL and broker and the registry alone (its own process, as in
`skillsub bench`), then records `--accounts` workers' card accounts one POST /v1/payee-accounts
each (`--concurrency` requests in flight, as bench/pipeline.py's preload), and as many other
workers' through POST /v1/bulk/payee-accounts in NDJSON files of `--batch` lines (when the
registry has the route). Prints accounts/s for each and their ratio, with `uptime`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path

import httpx

from bench.pipeline import _push, _push_bulk, _token, card_account
from shared.platform import Platform, free_ports


async def measure(base: str, n: int, concurrency: int, batch: int, routes: str) -> dict[str, float]:
    rates: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=64)) as client:
        feeder = await _token(client, base, "demo-feeder-employment_service")
        await _push(client, f"{base}/v1/payee-accounts", [card_account(n * 10 + i) for i in range(50)], 4, feeder)
        if "single" in routes:
            started = time.perf_counter()
            await _push(client, f"{base}/v1/payee-accounts", [card_account(i) for i in range(n)], concurrency, feeder)
            rates["single"] = n / (time.perf_counter() - started)
        probe = await client.post(f"{base}/v1/bulk/payee-accounts", content=b"", headers=feeder)
        if "bulk" in routes and probe.status_code != 404:
            started = time.perf_counter()
            await _push_bulk(client, f"{base}/v1/bulk/payee-accounts", [card_account(n + i) for i in range(n)],
                             batch, 2, feeder)
            rates["bulk"] = n / (time.perf_counter() - started)
    return rates


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--routes", default="single,bulk", help="which to run: single, bulk or both")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="payee-bench-"))
    platform = Platform(data_dir=data_dir, ports=free_ports(), with_treasury=False,
                        env={"SKILLSUB_LOG_LEVEL": "WARNING", "KAFKA_TOPIC_PARTITIONS": "4"})
    try:
        platform.start_servers()
        platform.start_services(("registry",))
        print("uptime before:", os.popen("uptime").read().strip())
        rates = asyncio.run(measure(platform.url("registry"), args.accounts, args.concurrency, args.batch,
                                   args.routes))
        print("uptime after: ", os.popen("uptime").read().strip())
    finally:
        platform.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    for route, rate in rates.items():
        print(f"{route:<7} {args.accounts:>7,} accounts  {rate:>9,.0f} accounts/s")
    if len(rates) == 2:
        print(f"bulk / single: {rates['bulk'] / rates['single']:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
