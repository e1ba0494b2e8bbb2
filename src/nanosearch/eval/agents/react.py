"""``react``: LangGraph's prebuilt ReAct agent with JSON tool calling, over the MCP tools as
``langchain-mcp-adapters`` loads them from our session. As in the report's own SimpleQA runs,
there is no system prompt: the model sees only the tools and the question.

The graph is streamed state by state, so a run stopped at the turn limit or the context budget
keeps everything it did: the last model turn's tool calls are then not executed, as in the
native loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from nanosearch.env import EnvConfig
from nanosearch.eval.agents.base import AgentRun, text_of
from nanosearch.eval.chat_client import ChatSettings, is_context_overflow
from nanosearch.eval.mcp_connection import McpConnection
from nanosearch.protocol import StopReason


def chat_model(chat: ChatSettings) -> Any:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=chat.model,
        base_url=chat.base_url,
        api_key=chat.api_key or "not-needed",
        temperature=chat.temperature,
        top_p=chat.top_p,
        max_tokens=chat.max_tokens,
        timeout=chat.timeout,
        max_retries=chat.retries,
        extra_body=chat.extra_body() or None,
    )


class ReactAgent:
    name = "react"

    def __init__(self, chat: ChatSettings, mcp: McpConnection, limits: EnvConfig) -> None:
        from langchain_mcp_adapters.tools import load_mcp_tools
        from langgraph.prebuilt import create_react_agent

        self.mcp = mcp
        self.limits = limits
        tools = mcp.run(load_mcp_tools(mcp.session))
        self.graph = create_react_agent(chat_model(chat), tools)

    def solve(self, question: str) -> AgentRun:
        return self.mcp.run(self._solve(question))

    async def _solve(self, question: str) -> AgentRun:
        run = AgentRun()
        seen = 0
        final: str | None = None
        stop: StopReason = "max_turns"
        stream = self.graph.astream(
            {"messages": [{"role": "user", "content": question}]},
            config={"recursion_limit": 2 * self.limits.max_turns + 4},
            stream_mode="values",
        )
        try:
            async for state in stream:
                messages = state["messages"]
                new, seen = messages[seen:], len(messages)
                stop_now = False
                for message in new:
                    if message.type == "ai":
                        calls = [
                            {"name": c["name"], "arguments": c["args"]} for c in message.tool_calls
                        ]
                        usage = message.usage_metadata or {}
                        tokens = (usage.get("input_tokens", 0), usage.get("output_tokens", 0))
                        run.model_turn(text_of(message.content), calls, tokens)
                        if not calls:
                            final, stop = text_of(message.content), "answer"
                        elif sum(tokens) >= self.limits.token_budget:
                            stop, stop_now = "token_budget", True
                        elif run.turns >= self.limits.max_turns:
                            stop_now = True
                    elif message.type == "tool":
                        call = _call_of(messages, message.tool_call_id)
                        run.tool_result(
                            message.name or call.get("name", ""),
                            call.get("args", {}),
                            getattr(message, "status", "success") != "error",
                            text_of(message.content),
                        )
                if stop_now:
                    break
        except Exception as error:
            if type(error).__name__ != "BadRequestError" or not is_context_overflow(str(error)):
                raise
            stop = "token_budget"
        finally:
            await _close(stream)
        return run.finish(final, stop)

    def close(self) -> None:
        pass


def _call_of(messages: list[Any], call_id: str) -> dict[str, Any]:
    for message in reversed(messages):
        for call in getattr(message, "tool_calls", None) or []:
            if call.get("id") == call_id:
                return call
    return {}


async def _close(stream: Any) -> None:
    with contextlib.suppress(RuntimeError, asyncio.CancelledError):
        await stream.aclose()
