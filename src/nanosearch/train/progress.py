"""A quiet console for training: one line per stage, rewritten in place on a terminal (appended
elsewhere), with the step, the mean reward and the latest held-out exact match."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from transformers import TrainerCallback


class StageProgress(TrainerCallback):
    def __init__(self, label: str, heldout: Any, echo: Callable[[str], None]) -> None:
        self.label = label
        self.heldout = heldout
        self.echo = echo
        self.reward: float | None = None
        self.started = time.perf_counter()
        self.inline = sys.stdout.isatty()

    def line(self, step: int, total: int) -> str:
        parts = [f"{self.label}: step {step}/{total}"]
        if self.reward is not None:
            parts.append(f"reward {self.reward:+.3f}")
        latest = getattr(self.heldout, "latest", None)
        if latest:
            parts.append(f"held-out EM {latest['exact_match']:.1%}")
        parts.append(f"{time.perf_counter() - self.started:.0f} s")
        return ", ".join(parts)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None, **_: Any):
        if logs and logs.get("reward") is not None:
            self.reward = float(logs["reward"])

    def on_step_end(self, args: Any, state: Any, control: Any, **_: Any):
        if not state.is_world_process_zero:
            return
        text = self.line(state.global_step, state.max_steps)
        if self.inline:
            sys.stdout.write("\r" + text.ljust(100))
            sys.stdout.flush()
        elif state.global_step < state.max_steps and (
            state.global_step % max(1, args.logging_steps * 5) == 0
        ):
            self.echo(text)  # the last step's line is on_train_end's

    def on_train_end(self, args: Any, state: Any, control: Any, **_: Any):
        if state.is_world_process_zero:
            if self.inline:
                sys.stdout.write("\r")
            self.echo(
                self.line(state.global_step, state.max_steps).ljust(100 if self.inline else 0)
            )
