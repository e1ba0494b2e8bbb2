"""The quiet training console: one line every five logging steps, and the stage's last line
once."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from nanosearch.train.progress import StageProgress


@pytest.mark.parametrize("max_steps", [10, 12])
def test_each_line_is_echoed_once_and_the_last_step_closes_the_stage(max_steps: int) -> None:
    lines: list[str] = []
    progress = StageProgress("stage 1 tools", SimpleNamespace(latest=None), lines.append)
    progress.inline = False
    args = SimpleNamespace(logging_steps=1)
    for step in range(1, max_steps + 1):
        state = SimpleNamespace(is_world_process_zero=True, global_step=step, max_steps=max_steps)
        progress.on_log(args, state, None, logs={"reward": step / 10})
        progress.on_step_end(args, state, None)
    progress.on_train_end(args, state, None)

    steps = [line.split(",")[0] for line in lines]
    assert steps == [f"stage 1 tools: step {s}/{max_steps}" for s in (5, 10) if s < max_steps] + [
        f"stage 1 tools: step {max_steps}/{max_steps}"
    ]
    assert f"reward +{max_steps / 10:.3f}" in lines[-1]
