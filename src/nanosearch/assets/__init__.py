"""Data shipped inside the package, so the demo and the tests need no download."""

from pathlib import Path

CORPORA_DIR = Path(__file__).resolve().parent / "corpora"
MUSIQUE_SAMPLE = CORPORA_DIR / "musique_ans_train_sample100.jsonl"
MUSIQUE_SAMPLE_PARAGRAPHS = CORPORA_DIR / "musique_sample100_corpus.json"
WIKI_PASSAGES = CORPORA_DIR / "flashrag_wiki_sample_data.jsonl"
NQ_SAMPLE = CORPORA_DIR / "flashrag_nq_test_17.jsonl"
SIMPLEQA_TEST = Path(__file__).resolve().parent / "simpleqa" / "simple_qa_test_set.csv"
# A Qwen3-compatible tokenizer with the Qwen3 chat template: tiny models are built around it.
QWEN3_TOKENIZER = Path(__file__).resolve().parent / "tokenizers" / "qwen3"
# Format-only bases pretrained on seeded worlds, each with its pretraining.json (the world's
# fingerprint and the settings): a recipe whose world and base settings match one starts there.
WORLD_BASES = Path(__file__).resolve().parent / "world_bases"

__all__ = [
    "CORPORA_DIR",
    "MUSIQUE_SAMPLE",
    "MUSIQUE_SAMPLE_PARAGRAPHS",
    "NQ_SAMPLE",
    "QWEN3_TOKENIZER",
    "SIMPLEQA_TEST",
    "WIKI_PASSAGES",
    "WORLD_BASES",
]
