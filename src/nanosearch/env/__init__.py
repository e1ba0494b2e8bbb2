"""The multi-turn rollout environment: batched generation, tool calls, token ids with masks."""

from nanosearch.env.chat import ChatFormat
from nanosearch.env.endpoint import EndpointPolicy
from nanosearch.env.policy import (
    STOP_STRINGS,
    Generation,
    GenerationRequest,
    Policy,
    ScriptedPolicy,
    TransformersPolicy,
)
from nanosearch.env.runner import EnvConfig, question_of, run_episodes
from nanosearch.env.tools import EngineTools, HTTPTools, ToolClient, ToolRequest, ToolResult

__all__ = [
    "STOP_STRINGS",
    "ChatFormat",
    "EndpointPolicy",
    "EngineTools",
    "EnvConfig",
    "Generation",
    "GenerationRequest",
    "HTTPTools",
    "Policy",
    "ScriptedPolicy",
    "ToolClient",
    "ToolRequest",
    "ToolResult",
    "TransformersPolicy",
    "question_of",
    "run_episodes",
]
