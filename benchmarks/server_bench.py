"""HTTP server load benchmark: throughput, latency and errors under concurrent clients, against
the engine called in-process on the same queries.

Starts ``nanosearch serve`` on a free loopback port over an index of the bundled MuSiQue
paragraphs (or ``--index DIR``), then for each batch size drives it with ``--clients``
concurrent clients, each request bounded in count (``--requests``) and the whole in time
(``--seconds``). Traffic goes to 127.0.0.1 only.

    python benchmarks/server_bench.py
    python benchmarks/server_bench.py --clients 16 --batches 1,64 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from nanosearch.assets import MUSIQUE_SAMPLE
from nanosearch.corpus import read_corpus
from nanosearch.search import build_index, load
from nanosearch.server.process import running_server

K = 10


def questions() -> list[str]:
    records = [json.loads(line) for line in MUSIQUE_SAMPLE.read_text().splitlines()]
    asked = [r["question"] for r in records]
    asked += [step["question"] for r in records for step in r["question_decomposition"]]
    return [q.replace("#1", "").replace("#2", "").replace("#3", "").strip() for q in asked]


async def drive(
    base: str, pool: list[str], batch: int, clients: int, requests: int, seconds: float
) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    sent = 0
    deadline = time.monotonic() + seconds

    async def client(number: int, http: httpx.AsyncClient) -> None:
        nonlocal errors, sent
        cursor = number * batch
        while sent < requests and time.monotonic() < deadline:
            sent += 1
            queries = [pool[(cursor + i) % len(pool)] for i in range(batch)]
            cursor += batch * clients
            started = time.perf_counter()
            try:
                response = await http.post("/search", json={"queries": queries, "k": K})
                ok = response.status_code == 200 and len(response.json()["results"]) == batch
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - started)
            errors += not ok

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(n, http) for n in range(clients)))
        elapsed = time.perf_counter() - started
    done = len(latencies)
    return {
        "requests": done,
        "queries_per_s": (done - errors) * batch / elapsed,
        "p50_ms": float(np.percentile(latencies, 50) * 1000),
        "p99_ms": float(np.percentile(latencies, 99) * 1000),
        "errors": errors,
    }


def in_process(index: Path, pool: list[str], batch: int, seconds: float) -> float:
    engine = load(index)
    engine.search(pool[:8], k=K)
    done, cursor = 0, 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        engine.search([pool[(cursor + i) % len(pool)] for i in range(batch)], k=K)
        cursor += batch
        done += batch
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--index", type=Path, help="an existing index (default: bundled MuSiQue)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--batches", default="1,16,128", help="queries per request, comma-separated"
    )
    parser.add_argument("--requests", type=int, default=400, help="requests per batch size at most")
    parser.add_argument("--seconds", type=float, default=20.0, help="time per batch size at most")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        index = args.index
        if index is None:
            index = Path(scratch) / "musique"
            build_index(read_corpus(MUSIQUE_SAMPLE, progress=False), index, progress=False)
        documents = load(index).manifest.num_documents
        pool = questions()
        rows = []
        with running_server(index, "--workers", str(args.workers)) as base:
            for batch in map(int, args.batches.split(",")):
                http = asyncio.run(
                    drive(base, pool, batch, args.clients, args.requests, args.seconds)
                )
                local = in_process(index, pool, batch, min(args.seconds, 5.0))
                rows.append((batch, http, local))

    print(
        f"\n{documents:,} documents, k={K}, {args.clients} concurrent clients, "
        f"{args.workers} server worker(s), loopback\n"
    )
    print(
        "| queries/request | requests | HTTP queries/s | p50 ms | p99 ms | errors "
        "| in-process queries/s | HTTP ÷ in-process |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for batch, http, local in rows:
        print(
            f"| {batch} | {http['requests']:.0f} | {http['queries_per_s']:,.0f} "
            f"| {http['p50_ms']:.1f} | {http['p99_ms']:.1f} | {http['errors']:.0f} | {local:,.0f} "
            f"| {http['queries_per_s'] / local:.2f} |"
        )


if __name__ == "__main__":
    main()
