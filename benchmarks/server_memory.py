"""Server memory under novel words: does ``nanosearch serve`` grow with what clients send?

bm25s's tokenizer caches every word it has not seen, even when asked not to update its
vocabulary, so a search server built on it grows by every novel word a client sends (the
hardening report measured 249 → 810 MB after 30 requests). Ours reads the vocabulary without
writing to it. This benchmark starts ``nanosearch serve`` on a loopback port over the bundled
MuSiQue index, sends ``--words`` never-seen words in ``/search`` requests, and reports the
server's resident memory before and after, against the growth of bm25s's own tokenizer cache on
the same words, measured in this process (the baseline). The server must still rank the known
passage first afterwards.

    python benchmarks/server_memory.py                  # 100,000 novel words, bound 64 MB
    python benchmarks/server_memory.py --words 300000 --bound-mb 64
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import tracemalloc
from pathlib import Path

import httpx

from nanosearch.assets import MUSIQUE_SAMPLE
from nanosearch.corpus import read_corpus
from nanosearch.search import build_index, load
from nanosearch.server.process import process_ids, running_server

WORDS_PER_QUERY = 40
QUERIES_PER_REQUEST = 50
KNOWN = ("Where does the Bubye River flow?", "Bubye River")


def novel_queries(words: int) -> list[str]:
    """Queries of words no corpus holds (and no two alike), ``WORDS_PER_QUERY`` each."""
    made = [f"qz{n:07d}vorth" for n in range(words)]
    return [
        " ".join(made[start : start + WORDS_PER_QUERY])
        for start in range(0, len(made), WORDS_PER_QUERY)
    ]


def server_pid(port: int) -> int:
    number = str(port).encode()
    found = process_ids(lambda arguments: b"serve" in arguments and number in arguments)
    if not found:
        raise RuntimeError(f"no server process found listening on port {port}")
    return found[0]


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def top_title(http: httpx.Client, base: str) -> str:
    reply = http.post(f"{base}/search", json={"queries": [KNOWN[0]], "k": 1})
    reply.raise_for_status()
    return reply.json()["results"][0][0]["title"]


def serve_novel_words(index: Path, queries: list[str]) -> tuple[float, float, str]:
    """The server's RSS (MB) after a warm-up and after every novel query, and its top hit for
    the known question afterwards."""
    with running_server(index) as base, httpx.Client(timeout=120) as http:
        pid = server_pid(int(base.rsplit(":", 1)[1]))
        top_title(http, base)
        before = resident_mb(pid)
        for start in range(0, len(queries), QUERIES_PER_REQUEST):
            batch = queries[start : start + QUERIES_PER_REQUEST]
            http.post(f"{base}/search", json={"queries": batch, "k": 5}).raise_for_status()
        after = resident_mb(pid)
        return before, after, top_title(http, base)


def bm25s_cache_growth(index: Path, queries: list[str]) -> tuple[int, float]:
    """Entries and MB that bm25s's tokenizer (``update_vocab=False``) keeps after the queries."""
    engine = load(index)
    tokenizer = engine.retriever._tokenizer  # type: ignore[attr-defined]
    entries = len(tokenizer.word_to_stem)
    gc.collect()
    tracemalloc.start()
    tokenizer.tokenize(queries, update_vocab=False, return_as="ids", show_progress=False)
    gc.collect()
    kept, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return len(tokenizer.word_to_stem) - entries, kept / 2**20


def main() -> int:
    """0 when the server's growth is within the bound and it still answers correctly, else 1."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--words", type=int, default=100_000)
    parser.add_argument("--bound-mb", type=float, default=64.0)
    args = parser.parse_args()
    queries = novel_queries(args.words)
    with tempfile.TemporaryDirectory() as scratch:
        index = Path(scratch) / "index"
        build_index(read_corpus(MUSIQUE_SAMPLE, progress=False), index, progress=False)
        before, after, top = serve_novel_words(index, queries)
        entries, baseline_mb = bm25s_cache_growth(index, queries)
    growth = after - before
    print(f"{args.words:,} novel words in {len(queries):,} queries")
    print("| what | memory growth (MB) | ratio to bm25s's cache |")
    print("|---|---|---|")
    print(
        f"| bm25s tokenizer cache, in process (baseline; {entries:,} entries) | "
        f"{baseline_mb:.1f} | 1.00 |"
    )
    print(
        f"| nanosearch serve RSS ({before:.0f} → {after:.0f} MB) | {growth:.1f} | "
        f"{growth / baseline_mb:.2f} |"
    )
    verdict = "within" if growth <= args.bound_mb else "OVER"
    print(
        f"server growth {growth:.1f} MB: {verdict} the {args.bound_mb:.0f} MB bound; "
        f"top hit for {KNOWN[0]!r} afterwards: {top!r} (expected {KNOWN[1]!r})"
    )
    return 0 if growth <= args.bound_mb and top == KNOWN[1] else 1


if __name__ == "__main__":
    sys.exit(main())
