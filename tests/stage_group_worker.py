"""One process of the two-process stage-launch test (``tests/test_train_parts.py``).

Started as one of two launched processes (``WORLD_SIZE=2``), it joins the launcher's process
group, takes the environment ``nanosearch train`` gives a stage's child process and starts
itself as that child (``--child``); the two children must form a process group of their own
beside their parents'. Prints one JSON line: the parent's port, the child's port and the sum
the children all-reduced.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys


def child() -> None:
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")
    total = torch.tensor([dist.get_rank() + 1])
    dist.all_reduce(total)
    print(json.dumps({"port": os.environ["MASTER_PORT"], "sum": int(total.item())}))
    dist.destroy_process_group()


def parent() -> None:
    from accelerate import PartialState

    from nanosearch.train.stage_process import stage_environment

    state = PartialState(cpu=True)  # what `accelerate launch --cpu` gives
    environment = stage_environment(state)
    ran = subprocess.run(
        [sys.executable, __file__, "--child"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if ran.returncode != 0:
        raise SystemExit(f"the stage's child failed:\n{ran.stderr[-3000:]}")
    state.wait_for_everyone()
    result = json.loads(ran.stdout.strip().splitlines()[-1])
    print(json.dumps({"parent_port": os.environ["MASTER_PORT"], **result}))


if __name__ == "__main__":
    child() if "--child" in sys.argv else parent()
