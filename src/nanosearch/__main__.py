"""The ``nanosearch`` command and ``python -m nanosearch``: the process starts itself again under
the allocator's settings (:mod:`nanosearch.allocator`) before the command line's modules are
imported, so the second start does not import them twice."""

from __future__ import annotations

import sys


def main() -> None:
    from nanosearch.allocator import run_with_tuned_allocator

    run_with_tuned_allocator()
    from nanosearch.cli import main as run_command

    run_command()


if __name__ == "__main__":
    sys.exit(main())
