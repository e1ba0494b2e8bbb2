"""Training in the hermes tool protocol and serving the result: a few steps of the tiny recipe
with ``protocol: hermes`` (the model writes ``<tool_call>`` blocks, the tools reach the chat
template, results come back as ``tool`` messages), then the trained checkpoint behind a real
vLLM server with its hermes tool parser, driven by the LangGraph ReAct runtime and by the
native runtime in the same protocol, through MCP.

The model trained is the tiny tool-calling model of ``tests/agent_model.py`` (no pretrained
weights can be had here, and a random model never writes a tool call), at a learning rate that
keeps its behaviour: the test checks the mechanics, not learning.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from nanosearch.train.curriculum import train_recipe
from nanosearch.train.metrics import METRICS_FILE, read_metrics
from tests.agent_model import QUERY
from tests.test_eval_agents import agent_model_dir, assert_searched_through_mcp, evaluate, rows_of
from tests.vllm_server import vllm_server

pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]
TINY = Path(__file__).resolve().parent.parent / "recipes" / "tiny-cpu" / "recipe.yaml"
SERVED = "hermes-trained"
__all__ = ["agent_model_dir"]  # the fixture, shared with tests/test_eval_agents.py


@pytest.fixture(scope="module")
def trained(agent_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("hermes")
    recipe = yaml.safe_load(TINY.read_text())
    recipe["model"] = {"name_or_path": str(agent_model_dir), "dtype": "float32"}
    recipe["protocol"] = "hermes"
    recipe["generation"].update(turn_tokens=64)
    recipe["training"].update(learning_rate=1e-7)
    recipe["stages"] = [{**recipe["stages"][0], "steps": 2, "context_tokens": 1536, "max_turns": 2}]
    (root / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    result = train_recipe(root / "recipe.yaml", root / "run", in_process=True)
    return {"run": root / "run", "model": result.model}


def test_hermes_training_rollouts_call_the_tools(trained: dict[str, Any]) -> None:
    records = [r for r in read_metrics(trained["run"] / "stage-1" / METRICS_FILE) if "reward" in r]
    assert records
    assert all(r["episodes/mean_tool_calls"] > 0 for r in records), records
    assert all(r["rewards/tool_execution/mean"] > 0 for r in records), records


@pytest.fixture(scope="module")
def served(trained: dict[str, Any]) -> Any:
    options = ("--enable-auto-tool-choice", "--tool-call-parser", "hermes")
    with vllm_server(trained["model"], SERVED, *options, max_model_len=8192) as base:
        yield base


def test_react_runtime_reads_the_trained_model_s_calls(
    served: str, musique_index_dir: Path, tmp_path: Path
) -> None:
    evaluate(tmp_path / "react", served, musique_index_dir, agent="react", model=SERVED, limit=2)
    rows = rows_of(tmp_path / "react" / "results.jsonl")
    assert_searched_through_mcp(rows)
    calls = [s for row in rows for s in row["trajectory"] if s["type"] == "tool"]
    assert {json.dumps(c["arguments"]) for c in calls} == {json.dumps({"query": QUERY})}


def test_native_runtime_in_hermes_sends_the_tools_and_reads_the_calls(
    served: str, musique_index_dir: Path, tmp_path: Path
) -> None:
    evaluate(
        tmp_path / "native", served, musique_index_dir, model=SERVED, limit=2, protocol="hermes"
    )
    rows = rows_of(tmp_path / "native" / "results.jsonl")
    assert_searched_through_mcp(rows)
    for row in rows:
        assert row["turns"] == 2 and row["stop"] == "max_turns"
