"""``nanosearch`` starts itself again under glibc's allocator tunables, once, keeping its pid,
arguments and file descriptors; a user's own tunables or the opt-out are left alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nanosearch.allocator import OPT_OUT, TUNABLES, VARIABLE, tuned_environment, uses_glibc
from nanosearch.assets import WIKI_PASSAGES

glibc_only = pytest.mark.skipif(not uses_glibc(), reason="the tunables are glibc's")
REPORT = (
    "import os, sys; print(os.getpid(), flush=True);"
    "from nanosearch.allocator import run_with_tuned_allocator; run_with_tuned_allocator();"
    "print(os.getpid(), os.environ.get('GLIBC_TUNABLES'), sys.argv[1:])"
)


def environment_without_tunables(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if k not in (VARIABLE, OPT_OUT)}, **extra}


def run_started_without_tunables(
    command: list[str], timeout: int, **extra: str
) -> subprocess.CompletedProcess[str]:
    """``command`` from an environment without the tunables or the opt-out (plus ``extra``),
    as a user's shell starts it; it must exit 0."""
    done = subprocess.run(
        command,
        env=environment_without_tunables(**extra),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_a_glibc_process_without_tunables_is_started_again_with_them() -> None:
    assert tuned_environment({"HOME": "/h"}, glibc=True) == {"HOME": "/h", VARIABLE: TUNABLES}


@pytest.mark.parametrize(
    ("environ", "glibc"),
    [
        ({VARIABLE: "glibc.malloc.arena_max=2"}, True),  # the user's own, or the second start
        ({OPT_OUT: "1"}, True),
        ({}, False),
    ],
)
def test_no_second_start_where_tunables_are_set_opted_out_or_not_glibc(
    environ: dict[str, str], glibc: bool
) -> None:
    assert tuned_environment(environ, glibc=glibc) is None


@glibc_only
def test_the_second_start_keeps_the_pid_and_arguments_and_sets_the_tunables() -> None:
    done = run_started_without_tunables([sys.executable, "-c", REPORT, "--flag", "value"], 60)
    first, again, last = done.stdout.strip().splitlines()  # the second start prints its pid too
    assert again == first
    assert last == f"{first} {TUNABLES} ['--flag', 'value']"


@glibc_only
def test_the_opt_out_keeps_the_system_allocator() -> None:
    done = run_started_without_tunables([sys.executable, "-c", REPORT], 60, **{OPT_OUT: "1"})
    first, second = done.stdout.strip().splitlines()
    assert second == f"{first} None []"


def index_arguments(tmp_path: Path) -> list[str]:
    return ["--corpus", str(WIKI_PASSAGES), "--out", str(tmp_path / "index")]


def test_the_command_runs_a_job_after_starting_itself_again(tmp_path: Path) -> None:
    done = run_started_without_tunables(
        [sys.executable, "-m", "nanosearch.cli", "index", *index_arguments(tmp_path)], 300
    )
    assert "indexed 1000 documents" in done.stdout


@glibc_only
def test_the_command_starts_again_before_it_imports_the_command_line() -> None:
    """The console script's entry (``nanosearch.__main__``) starts itself again first, so the
    command line's modules (typer, torch through them) are imported once, by the second start."""
    import tomllib

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["nanosearch"] == "nanosearch.__main__:main"
    entry = "import sys; sys.argv[1:] = ['--help']; from nanosearch.__main__ import main; main()"
    done = run_started_without_tunables([sys.executable, "-X", "importtime", "-c", entry], 120)
    assert "Usage: nanosearch" in done.stdout
    starts = done.stderr.split("import time: self [us]")[1:]  # each start prints the header
    assert len(starts) == 2
    assert "nanosearch.allocator" in starts[0]
    assert "nanosearch.cli" not in starts[0] and "typer" not in starts[0]
    assert "nanosearch.cli" in starts[1]
