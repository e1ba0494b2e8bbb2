"""The tiny recipe end to end on CPU: three stages on TRL's GRPOTrainer, the hand-off of weights
between stages, metrics, plots, the YaRN export, and resume after ``kill -9``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from safetensors.torch import load_file

from nanosearch.server.process import process_ids
from nanosearch.train import curriculum
from nanosearch.train.curriculum import COMPLETE_MARK, train_recipe
from nanosearch.train.metrics import METRICS_FILE, read_metrics

TINY = Path(__file__).resolve().parent.parent / "recipes" / "tiny-cpu" / "recipe.yaml"
pytestmark = pytest.mark.timeout(1200)


def short_recipe(
    directory: Path, steps: list[int], evaluation: dict[str, Any] | None = None
) -> Path:
    """The shipped tiny recipe with fewer steps per stage (and a held-out evaluation)."""
    recipe = yaml.safe_load(TINY.read_text())
    if evaluation is not None:
        recipe["evaluation"] = evaluation
    for stage, count in zip(recipe["stages"], steps, strict=True):
        stage["steps"] = count
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    return directory


def weights(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(directory / "model.safetensors")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run of the tiny recipe, recording the weights each stage's trainer starts from (so
    its stages run in this process; the kill-and-resume test runs them in their own)."""
    root = tmp_path_factory.mktemp("train")
    recipe = short_recipe(root / "recipe", [3, 1, 1])
    starts: dict[int, dict[str, torch.Tensor]] = {}
    original = curriculum.build_trainer

    def recording(*args: Any, **kwargs: Any) -> Any:
        trainer = original(*args, **kwargs)
        number = args[2]
        starts[number] = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}
        return trainer

    curriculum.build_trainer = recording
    try:
        result = train_recipe(recipe, root / "run", in_process=True)
    finally:
        curriculum.build_trainer = original
    return {"result": result, "starts": starts, "out": root / "run"}


def test_three_stages_leave_three_final_checkpoints(trained: dict[str, Any]) -> None:
    out = trained["out"]
    for number, steps in zip((1, 2, 3), (3, 1, 1), strict=True):
        final = out / f"stage-{number}" / "final"
        assert json.loads((final / COMPLETE_MARK).read_text())["step"] == steps
        assert (final / "model.safetensors").is_file() and (final / "tokenizer.json").is_file()
        assert list((out / f"stage-{number}" / "tensorboard").glob("events.out.tfevents.*"))


def test_each_stage_starts_from_the_previous_stages_weights(trained: dict[str, Any]) -> None:
    out, starts = trained["out"], trained["starts"]
    base = weights(out / "base-model")
    stage1 = weights(out / "stage-1" / "final")
    stage2 = weights(out / "stage-2" / "final")
    assert any(not torch.equal(base[k], stage1[k]) for k in base), "stage 1 did not train"
    for number, previous in ((1, base), (2, stage1), (3, stage2)):
        start = starts[number]
        assert previous.keys() <= start.keys()
        assert all(torch.equal(start[k], previous[k]) for k in previous), f"stage {number}"


def test_metrics_carry_every_reward_component_and_dapo_diagnostics(
    trained: dict[str, Any],
) -> None:
    out = trained["out"]
    expected = {
        1: ["correctness", "tool_execution", "format_compliance", "xml_structure"],
        2: ["correctness", "xml_structure"],
        3: ["correctness", "xml_structure"],
    }
    for number, names in expected.items():
        records = [r for r in read_metrics(out / f"stage-{number}" / METRICS_FILE) if "reward" in r]
        assert records, f"stage {number} logged no step"
        for name in [*names, "non_thinking", "overlong_penalty"]:
            assert f"rewards/{name}/mean" in records[0], (number, name)
        for key in (
            "clip_ratio/low_mean",
            "clip_ratio/high_mean",
            "completions/clipped_ratio",
            "dynamic_sampling/groups_dropped",
            "dynamic_sampling/rounds",
            "episodes/truncated_rate",
            "episodes/mean_turns",
            "episodes/mean_tool_calls",
        ):
            assert key in records[0], (number, key)


def test_clip_higher_binds_within_a_generation_batch(trained: dict[str, Any]) -> None:
    """Stage 1's three optimizer steps pass over one generation batch (the rewards are logged
    once, with it): the later steps' policy has moved, so the ratio leaves [1 - 0.2, 1 + 0.28]
    on some tokens, on both sides."""
    records = [r for r in read_metrics(trained["out"] / "stage-1" / METRICS_FILE) if "loss" in r]
    assert [r["step"] for r in records] == [1, 2, 3]
    assert [("reward" in r) for r in records] == [True, False, False]
    assert records[0]["clip_ratio/region_mean"] == 0.0  # first update: the ratio is exactly 1
    assert max(r["clip_ratio/low_mean"] for r in records[1:]) > 0
    assert max(r["clip_ratio/high_mean"] for r in records[1:]) > 0


def test_plot_and_yarn_export(trained: dict[str, Any]) -> None:
    result = trained["result"]
    assert result.plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = json.loads((result.model / "config.json").read_text())
    rope = config.get("rope_parameters") or config.get("rope_scaling")
    assert rope["rope_type"] == "yarn" and rope["factor"] == 4.0
    assert rope["original_max_position_embeddings"] == 32768
    assert config["max_position_embeddings"] == 131072
    note = (result.model / "SERVING.md").read_text()
    assert "--rope-scaling yarn" in note and "vllm serve" in note
    assert "--tool-call-parser" not in note and "--protocol xml" in note
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(result.model)
    assert "stage 1" in "\n".join(result.summary())


def test_a_finished_run_is_not_overwritten(trained: dict[str, Any]) -> None:
    from nanosearch.errors import NanosearchError

    with pytest.raises(NanosearchError, match="--resume"):
        train_recipe(trained["out"] / "recipe.yaml", trained["out"])


def stage_processes(out: Path) -> list[int]:
    """Processes still running a stage of the run in ``out``."""
    run = str(out).encode()
    return process_ids(
        lambda arguments: b"nanosearch.train.stage_process" in arguments and run in arguments
    )


def newest_checkpoint(stage: Path) -> int:
    numbers = [int(p.name[11:]) for p in stage.glob("checkpoint-*") if p.name[11:].isdigit()]
    return max(numbers, default=0)


def kill_run(process: subprocess.Popen, out: Path) -> None:
    """``kill -9`` a training run and check that its stage process does not outlive it."""
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while stage_processes(out) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not stage_processes(out), "the stage's process outlived the killed run"


def test_training_killed_during_checkpoint_saves_loses_and_repeats_no_step(
    tmp_path: Path,
) -> None:
    """SIGKILL at a random moment of a checkpoint's save (0 to 250 ms after its directory
    appears; the tiny model's save takes about that long), twice, each followed by --resume:
    the run ends with every step logged once (its metrics, rollouts and held-out episodes) and
    the stage's last step reached."""
    import random

    evaluation = {"every_steps": 1, "dev_questions": 2, "max_turns": 2}
    recipe = short_recipe(tmp_path / "recipe", [4, 1, 1], evaluation)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "nanosearch.cli", "train", "--recipe", str(recipe)]
    command += ["--out", str(out)]
    stage = out / "stage-1"
    rng = random.Random(0)
    for attempt in range(2):
        log = tmp_path / f"attempt-{attempt}.log"
        resume = ["--resume"] if attempt else []
        with log.open("w") as sink:
            process = subprocess.Popen([*command, *resume], stdout=sink, stderr=subprocess.STDOUT)
        seen = newest_checkpoint(stage)
        deadline = time.monotonic() + 600
        while newest_checkpoint(stage) <= seen:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no new checkpoint within 10 minutes"
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.25))
        kill_run(process, out)
    assert not (stage / "final" / COMPLETE_MARK).exists(), "the stage ended before the kills"
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((stage / "final" / COMPLETE_MARK).read_text())["step"] == 4
    steps = [r["step"] for r in read_metrics(stage / METRICS_FILE) if "loss" in r]
    assert steps == [1, 2, 3, 4]
    assert_one_batch_per_logged_step(stage)
    evaluated = Counter(
        json.loads(line)["step"] for line in (stage / "heldout-episodes.jsonl").open()
    )
    assert evaluated == {1: 2, 2: 2, 3: 2, 4: 2}


def assert_one_batch_per_logged_step(stage: Path) -> None:
    """A resumed stage drops the rollouts of the steps it plays again: each step that
    generated a batch has the kept episodes of one batch in ``rollouts.jsonl``."""
    lines = [json.loads(line) for line in (stage / "rollouts.jsonl").open()]
    kept = Counter(line["step"] for line in lines if line["kept"])
    assert kept and set(kept.values()) == {4}, kept  # per_device_batch_size of tiny-cpu
    assert min(kept) == 1


def test_kill_and_resume_reaches_the_same_final_step(tmp_path: Path) -> None:
    recipe = short_recipe(tmp_path / "recipe", [3, 1, 1])
    out = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "nanosearch.cli",
        "train",
        "--recipe",
        str(recipe),
        "--out",
        str(out),
    ]
    log = (tmp_path / "first.log").open("w")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    checkpoint = out / "stage-1" / "checkpoint-1" / "trainer_state.json"
    deadline = time.monotonic() + 600
    while not checkpoint.is_file():
        assert process.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint within 10 minutes"
        time.sleep(0.5)
    time.sleep(1.0)
    kill_run(process, out)
    assert not (out / "stage-1" / "final" / COMPLETE_MARK).exists()

    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stderr
    final_step = json.loads((out / "stage-1" / "final" / COMPLETE_MARK).read_text())["step"]
    assert final_step == 3
    steps = [r["step"] for r in read_metrics(out / "stage-1" / METRICS_FILE) if "loss" in r]
    assert steps == [1, 2, 3]
    assert_one_batch_per_logged_step(out / "stage-1")
    marks = [
        json.loads((out / f"stage-{n}" / "final" / COMPLETE_MARK).read_text()) for n in (1, 2, 3)
    ]
    assert len({mark["process"] for mark in marks}) == 3, "stages shared a process"

    again = subprocess.run([*command, "--resume"], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("already complete: skipped") == 3
