"""Start ``nanosearch serve`` as a child process, or an ASGI app in a thread of this one, and
wait until it answers: for trainers, eval harnesses, tests and benchmarks that need a server
with no one to start it by hand."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from nanosearch.errors import NanosearchError


def process_ids(matching: Callable[[list[bytes]], bool]) -> list[int]:
    """The processes whose command line (its arguments, read from ``/proc``) ``matching``
    accepts; those that exit while being read are left out."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if matching(arguments):
            found.append(int(entry.name))
    return found


PR_SET_PDEATHSIG = 1  # prctl option, <linux/prctl.h>


def ended_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to send the child SIGTERM when the thread that starts it
    ends, so a parent that is killed (``kill -9`` included: no cleanup of its own runs) leaves
    no server behind; None where the kernel offers no such request."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def request() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request was made
            os._exit(1)

    return request


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


@contextmanager
def serving_in_thread(
    app: Any, name: str, port: int | None = None, startup_seconds: float = 60.0
) -> Iterator[str]:
    """Serve the ASGI ``app`` with uvicorn on a loopback port (a free one unless given), in a
    thread of this process, and yield its base URL; the server stops when the block ends."""
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_seconds
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise NanosearchError(f"the {name} did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def running_process(
    command: list[str],
    ready_url: str,
    name: str,
    startup_seconds: float = 60.0,
    environment: dict[str, str] | None = None,
) -> Iterator[None]:
    """Run ``command`` until the block ends, entering it once ``ready_url`` answers 200;
    ``environment`` is added to this process's. The command also ends when this process (the
    thread that entered the block) does, however it ends (:func:`ended_with_parent`).

    Its output goes to a temporary file (a pipe nobody drains could block it); if it exits
    at start, the error names its last line of output."""
    env = {**os.environ, **environment} if environment else None
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=ended_with_parent(),
        )
        try:
            deadline = time.monotonic() + startup_seconds
            while not _answers(ready_url):
                if process.poll() is not None:
                    log.seek(0)
                    lines = log.read().strip().splitlines()
                    reason = lines[-1] if lines else f"exit status {process.returncode}"
                    raise NanosearchError(f"the {name} exited at start: {reason}")
                if time.monotonic() > deadline:
                    raise NanosearchError(f"the {name} did not answer within {startup_seconds} s")
                time.sleep(0.2)
            yield
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def running_server(
    index: str | Path,
    *options: str,
    port: int | None = None,
    startup_seconds: float = 60.0,
    environment: dict[str, str] | None = None,
) -> Iterator[str]:
    """Serve ``index`` on a loopback port (a free one unless given) and yield its base URL;
    the server is stopped when the block ends. ``options`` are extra ``nanosearch serve`` flags;
    ``environment`` adds variables (``NANOSEARCH_API_KEY``: a key kept out of ``ps``)."""
    port = port or free_port()
    command = [sys.executable, "-m", "nanosearch.cli", "serve", "--index", str(index)]
    base = f"http://127.0.0.1:{port}"
    with running_process(
        [*command, "--port", str(port), *options],
        f"{base}/health",
        "search server",
        startup_seconds,
        environment,
    ):
        yield base


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False
