"""A real vLLM OpenAI-compatible server on CPU, for tests that need an endpoint. Outside CI a
machine without the vLLM environment (``make test`` installs it) skips those tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from nanosearch.server.process import free_port, running_process

VLLM_PYTHON = Path(os.environ.get("NANOSEARCH_VLLM_PYTHON", ".vllm-venv/bin/python"))
STARTUP_SECONDS = 900


@contextmanager
def vllm_server(
    model_dir: Path, name: str, *options: str, max_model_len: int = 4096
) -> Iterator[str]:
    """``vllm serve`` of ``model_dir`` as ``name`` on a free loopback port; yields its /v1 URL."""
    if not VLLM_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail(f"no vLLM environment at {VLLM_PYTHON}: run `make test` to install it")
        pytest.skip(f"no vLLM environment at {VLLM_PYTHON}")
    port = free_port()
    command = [
        str(VLLM_PYTHON),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model_dir),
        "--served-model-name",
        name,
        "--dtype",
        "bfloat16",
        "--gpu-memory-utilization",
        "0.3",
        "--max-model-len",
        str(max_model_len),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *options,
    ]
    base = f"http://127.0.0.1:{port}/v1"
    with running_process(command, f"{base}/models", "vLLM server", STARTUP_SECONDS):
        yield base
