"""Search engine benchmark: nanosearch vs raw bm25s vs rank_bm25 on the same queries.

Runs on the bundled Wikipedia passages and on synthetic corpora it generates (100K and 1M
passages by default), each system in its own subprocess so memory figures do not mix. Reports
index build time, index size on disk, load time and resident memory after an mmap load, and
queries per second, with the ratio of nanosearch's throughput to each baseline's.

    python benchmarks/search_bench.py                       # bundled, 100K, 1M
    python benchmarks/search_bench.py --sizes bundled,100000 --queries 500
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SYSTEMS = ("nanosearch", "bm25s", "rank_bm25")
BATCH = 256
K = 10
RANK_BM25_SECONDS = 60.0


def generate_corpus(path: Path, size: int, seed: int = 0) -> None:
    """Passages of Zipf-distributed pseudo-words: a vocabulary shaped like natural text."""
    import numpy as np

    rng = np.random.default_rng(seed)
    consonants, vowels = "bdfgklmnprstvz", "aeiou"
    syllables = [c + v for c in consonants for v in vowels]
    vocabulary: list[str] = []
    seen: set[str] = set()
    while len(vocabulary) < 50_000:
        word = "".join(rng.choice(syllables, size=rng.integers(2, 5)))
        if word not in seen:
            seen.add(word)
            vocabulary.append(word)
    words = np.array(vocabulary)
    with path.open("w") as out:
        for start in range(0, size, 10_000):
            count = min(10_000, size - start)
            lengths = rng.integers(30, 90, size=count)
            ranks = np.minimum(rng.zipf(1.15, size=int(lengths.sum())), len(words)) - 1
            tokens = words[ranks]
            offset = 0
            for i, length in enumerate(lengths):
                passage = tokens[offset : offset + length]
                offset += length
                record = {
                    "id": str(start + i),
                    "title": " ".join(passage[:3]),
                    "text": " ".join(passage[3:]),
                }
                out.write(json.dumps(record) + "\n")


def make_queries(corpus: Path, count: int, seed: int = 1) -> list[str]:
    """Queries of 3 to 6 words drawn from random passages, so that each has matches."""
    rng = random.Random(seed)
    lines = corpus.read_text().splitlines()
    queries = []
    for line in rng.sample(lines, min(count, len(lines))):
        record = json.loads(line)
        words = (record.get("contents") or record.get("text", "")).split()
        start = rng.randrange(max(1, len(words) - 6))
        queries.append(" ".join(words[start : start + rng.randint(3, 6)]))
    return queries


def corpus_texts(corpus: Path) -> list[str]:
    from nanosearch.corpus import read_corpus

    return [document.contents for document in read_corpus(corpus, progress=False)]


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def directory_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def timed_batches(search: Any, queries: list[str]) -> float:
    """Queries per second over batches of BATCH, after one warm-up batch of 8 queries."""
    search(queries[:8])
    started = time.perf_counter()
    for start in range(0, len(queries), BATCH):
        search(queries[start : start + BATCH])
    return len(queries) / (time.perf_counter() - started)


def worker_nanosearch(corpus: Path, queries: list[str], workdir: Path) -> dict[str, Any]:
    from nanosearch.corpus import read_corpus
    from nanosearch.search import build_index

    index_dir = workdir / "nanosearch-index"
    started = time.perf_counter()
    build_index(read_corpus(corpus, progress=False), index_dir, progress=False)
    build = time.perf_counter() - started
    loaded = measure_in_subprocess("nanosearch-load", corpus, queries, workdir)
    return {"build_s": build, "size_mb": directory_mb(index_dir), **loaded}


def worker_nanosearch_load(corpus: Path, queries: list[str], workdir: Path) -> dict[str, Any]:
    from nanosearch.search import load

    baseline = rss_mb()
    started = time.perf_counter()
    engine = load(workdir / "nanosearch-index", mmap=True)
    load_s = time.perf_counter() - started
    rss = rss_mb() - baseline
    qps = timed_batches(lambda batch: engine.search(batch, k=K), queries)
    return {"load_s": load_s, "rss_mb": rss, "qps": qps, "queries": len(queries)}


def bm25s_tokenizer() -> Any:
    import bm25s
    import Stemmer

    return bm25s.tokenization.Tokenizer(stopwords="en", stemmer=Stemmer.Stemmer("english"))


def worker_bm25s(corpus: Path, queries: list[str], workdir: Path) -> dict[str, Any]:
    import bm25s

    texts = corpus_texts(corpus)
    started = time.perf_counter()
    tokenizer = bm25s_tokenizer()
    tokens = tokenizer.tokenize(texts, show_progress=False)
    model = bm25s.BM25(method="lucene")
    model.index(tokenizer.to_tokenized_tuple(tokens), show_progress=False)
    build = time.perf_counter() - started
    index_dir = workdir / "bm25s-index"
    model.save(str(index_dir))
    tokenizer.save_vocab(str(index_dir))
    del model, tokens, texts
    loaded = measure_in_subprocess("bm25s-load", corpus, queries, workdir)
    return {"build_s": build, "size_mb": directory_mb(index_dir), **loaded}


def worker_bm25s_load(corpus: Path, queries: list[str], workdir: Path) -> dict[str, Any]:
    import bm25s

    baseline = rss_mb()
    started = time.perf_counter()
    model = bm25s.BM25.load(str(workdir / "bm25s-index"), mmap=True, show_progress=False)
    tokenizer = bm25s_tokenizer()
    tokenizer.load_vocab(str(workdir / "bm25s-index"))
    load_s = time.perf_counter() - started
    rss = rss_mb() - baseline
    k = min(K, int(model.scores["num_docs"]))

    def search(batch: list[str]) -> Any:
        ids = tokenizer.tokenize(batch, update_vocab=False, show_progress=False)
        return model.retrieve(ids, k=k, show_progress=False)

    qps = timed_batches(search, queries)
    return {"load_s": load_s, "rss_mb": rss, "qps": qps, "queries": len(queries)}


def worker_rank_bm25(corpus: Path, queries: list[str], workdir: Path) -> dict[str, Any]:
    """rank_bm25 keeps everything in Python dicts and scores every document per query term:
    its queries are timed for at most RANK_BM25_SECONDS."""
    from rank_bm25 import BM25Okapi

    tokenizer = bm25s_tokenizer()
    texts = corpus_texts(corpus)
    baseline = rss_mb()
    started = time.perf_counter()
    tokens = tokenizer.tokenize(texts, show_progress=False, return_as="string")
    model = BM25Okapi(tokens)
    build = time.perf_counter() - started
    del tokens, texts
    rss = rss_mb() - baseline
    done = 0
    started = time.perf_counter()
    for query in queries:
        terms = tokenizer.tokenize(
            [query], update_vocab=False, show_progress=False, return_as="string"
        )[0]
        scores = model.get_scores(terms)
        scores.argsort()[-K:]
        done += 1
        if time.perf_counter() - started > RANK_BM25_SECONDS:
            break
    qps = done / (time.perf_counter() - started)
    return {
        "build_s": build,
        "size_mb": None,
        "load_s": None,
        "rss_mb": rss,
        "qps": qps,
        "queries": done,
    }


WORKERS = {
    "nanosearch": worker_nanosearch,
    "nanosearch-load": worker_nanosearch_load,
    "bm25s": worker_bm25s,
    "bm25s-load": worker_bm25s_load,
    "rank_bm25": worker_rank_bm25,
}


def measure_in_subprocess(
    system: str, corpus: Path, queries: list[str], workdir: Path
) -> dict[str, Any]:
    queries_file = workdir / "queries.json"
    queries_file.write_text(json.dumps(queries))
    result = subprocess.run(
        [
            sys.executable,
            __file__,
            "--worker",
            system,
            str(corpus),
            str(queries_file),
            str(workdir),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{system} worker failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (
        "| corpus | docs | system | build s | index MB | load s | RSS after load MB "
        "| queries/s | nanosearch ÷ system |"
    )
    print(header)
    print("|---" * 9 + "|")
    by_corpus: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        by_corpus.setdefault(row["corpus"], {})[row["system"]] = row
    for corpus, systems in by_corpus.items():
        ours = systems["nanosearch"]["qps"]
        for system, row in systems.items():
            ratio = ours / row["qps"] if row["qps"] else None
            print(
                f"| {corpus} | {row['docs']:,} | {system} | {fmt(row['build_s'])} "
                f"| {fmt(row['size_mb'])} | {fmt(row['load_s'], 3)} | {fmt(row['rss_mb'])} "
                f"| {fmt(row['qps'])} | {fmt(ratio, 2)}× |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="bundled,100000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--workdir", type=Path, default=None, help="kept after the run if given")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        system, corpus, queries_file, workdir = args.worker
        queries = json.loads(Path(queries_file).read_text())
        print(json.dumps(WORKERS[system](Path(corpus), queries, Path(workdir))))
        return

    from nanosearch.assets import WIKI_PASSAGES

    root = args.workdir or Path(tempfile.mkdtemp(prefix="search-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for size in args.sizes.split(","):
            if size == "bundled":
                corpus, name = WIKI_PASSAGES, "wiki passages (bundled)"
            else:
                corpus, name = root / f"synthetic-{size}.jsonl", f"synthetic {int(size):,}"
                if not corpus.exists():
                    print(f"generating {name} ...", file=sys.stderr, flush=True)
                    generate_corpus(corpus, int(size))
            docs = sum(1 for _ in corpus.open())
            queries = make_queries(corpus, args.queries)
            for system in args.systems.split(","):
                workdir = root / f"{size}-{system}"
                shutil.rmtree(workdir, ignore_errors=True)
                workdir.mkdir()
                print(f"{name}: {system} ...", file=sys.stderr, flush=True)
                result = measure_in_subprocess(system, corpus, queries, workdir)
                rows.append({"corpus": name, "docs": docs, "system": system, **result})
                shutil.rmtree(workdir, ignore_errors=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    print(
        f"\nk={K}, batches of {BATCH} queries, {os.cpu_count()} CPU cores; "
        f"rank_bm25 timed on at most {RANK_BM25_SECONDS:.0f} s of queries.\n"
    )
    print_table(rows)


if __name__ == "__main__":
    main()
