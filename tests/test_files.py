"""Files that survive a kill, and one run per directory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nanosearch.errors import NanosearchError
from nanosearch.files import directory_lock, write_json, write_jsonl


def test_a_failed_write_leaves_the_old_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    write_json(path, {"step": 1})
    with pytest.raises(TypeError):
        write_json(path, {"step": object()})
    assert json.loads(path.read_text()) == {"step": 1}
    write_jsonl(tmp_path / "rows.jsonl", ({"n": n} for n in range(3)))
    assert (tmp_path / "rows.jsonl").read_text().count("\n") == 3


def test_a_directory_has_one_holder_at_a_time(tmp_path: Path) -> None:
    with (
        directory_lock(tmp_path, "evaluation"),
        pytest.raises(NanosearchError, match="in use by another evaluation"),
        directory_lock(tmp_path, "evaluation"),
    ):
        pass
    with directory_lock(tmp_path, "evaluation"):
        pass


def test_a_killed_holder_releases_the_lock(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from nanosearch.files import "
            "directory_lock\nwith directory_lock(Path(sys.argv[1]), 'run'):\n"
            "    print('held', flush=True); time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    with pytest.raises(NanosearchError, match="in use"), directory_lock(tmp_path, "run"):
        pass
    holder.kill()
    holder.wait()
    with directory_lock(tmp_path, "run"):
        pass


def test_a_model_save_that_fails_midway_leaves_no_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run skips building its tiny base when ``base-model/config.json`` exists, so a save cut
    after the weights and before the tokenizer must leave no ``config.json`` behind."""
    from transformers import PreTrainedTokenizerBase

    from nanosearch.assets import QWEN3_TOKENIZER
    from nanosearch.models import build_tiny_qwen3

    def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("killed while saving the tokenizer")

    monkeypatch.setattr(PreTrainedTokenizerBase, "save_pretrained", killed)
    out = tmp_path / "base-model"
    with pytest.raises(KeyboardInterrupt):
        build_tiny_qwen3(QWEN3_TOKENIZER, out)
    assert not (out / "config.json").exists()
    monkeypatch.undo()
    build_tiny_qwen3(QWEN3_TOKENIZER, out)
    assert (out / "config.json").is_file() and (out / "tokenizer.json").is_file()
