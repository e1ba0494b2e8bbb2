"""Each curriculum stage in a process of its own.

A stage builds a trainer, the policy and its optimizer state (DeepSpeed's partitions on a
cluster) and, in vLLM colocate mode, a whole inference engine. Dropping the Python objects does
not reliably give that memory back to the device, so stage 2 would start beside stage 1's
leftovers. ``nanosearch train`` therefore starts every stage as a child process (this module)
and waits for it: when the child exits, the device has all its memory back. Resuming is
unchanged: the child resumes its stage from the stage's last complete checkpoint.

Under ``accelerate launch`` each launched process starts its own child; the children form a
process group of their own on a port the main process picks and hands to the others, since the
parents' group still holds the launcher's port. The child exits when its parent dies, so a
killed run leaves no stage training on behind its back.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nanosearch.errors import NanosearchError

MODULE = "nanosearch.train.stage_process"


def stage_environment(state: Any) -> dict[str, str]:
    """This process's environment for its stage child; with several processes, a fresh
    ``MASTER_PORT`` chosen by the main process and shared with every other."""
    environment = dict(os.environ)
    if state.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        from nanosearch.server.process import free_port

        port = [free_port("") if state.is_main_process else None]
        broadcast_object_list(port)
        environment["MASTER_PORT"] = str(port[0])
    return environment


def launch_stage(
    recipe: str | Path,
    out: Path,
    number: int,
    start: str,
    offset: int,
    resume: bool,
    state: Any,
    echo: Callable[[str], None] | None = None,
) -> None:
    """Run stage ``number`` in a child process; its progress lines reach ``echo``."""
    command = [sys.executable, "-m", MODULE, "--recipe", str(recipe), "--out", str(out)]
    command += ["--stage", str(number), "--start", start, "--offset", str(offset)]
    command += ["--resume"] * resume + ["--progress"] * (echo is not None)
    environment = stage_environment(state)
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment) as child:
        assert child.stdout is not None
        for line in child.stdout:
            if echo is not None:
                echo(line.rstrip("\n"))
    if child.returncode != 0:
        raise NanosearchError(
            f"stage {number} failed in its own process (exit status {child.returncode}); "
            "its error is printed above, and --resume continues from its last checkpoint"
        )


def exit_with_parent(poll_seconds: float = 1.0) -> None:
    """End this process as soon as the process that started it is gone."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__)
    parser.add_argument("--recipe", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--stage", required=True, type=int)
    parser.add_argument("--start", required=True)
    parser.add_argument("--offset", required=True, type=int)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    exit_with_parent()
    from nanosearch.train.curriculum import train_stage

    echo = (lambda line: print(line, flush=True)) if args.progress else None
    try:
        train_stage(args.recipe, args.out, args.stage, args.start, args.offset, args.resume, echo)
    except NanosearchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
