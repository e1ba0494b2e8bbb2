"""``codeagent``: smolagents' ``CodeAgent``, which acts by writing Python that calls the tools,
with the tools from smolagents' own MCP client (one session per run).

Every tool call the code makes is recorded, with its result, after the model turn that wrote
the code; a run stopped by the context budget keeps its trajectory. At the step limit smolagents
asks the model once more for a final answer, without tools: that reply is the prediction.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

from nanosearch.env import EnvConfig
from nanosearch.eval.agents.base import AgentRun, text_of
from nanosearch.eval.chat_client import ChatSettings, is_context_overflow
from nanosearch.eval.mcp_connection import McpTarget

ERROR_PREFIXES = ("Error", "error")


def server_parameters(target: McpTarget) -> Any:
    import os

    if target.url is not None:
        parameters: dict[str, Any] = {"url": target.url, "transport": "streamable-http"}
        headers = target.auth_headers()
        if headers:
            parameters["headers"] = headers
        return parameters
    from mcp import StdioServerParameters

    command, args = target.stdio_command()
    return StdioServerParameters(command=command, args=args, env=dict(os.environ))


class CodeAgentRuntime:
    name = "codeagent"

    def __init__(self, chat: ChatSettings, target: McpTarget, limits: EnvConfig) -> None:
        from smolagents import MCPClient, OpenAIServerModel

        self.limits = limits
        self.client = MCPClient(server_parameters(target), structured_output=False)
        self.tools = self.client.get_tools()
        extra = chat.extra_body()
        self.model = OpenAIServerModel(
            model_id=chat.model,
            api_base=chat.base_url,
            api_key=chat.api_key or "not-needed",
            client_kwargs={"timeout": chat.timeout, "max_retries": chat.retries},
            temperature=chat.temperature,
            top_p=chat.top_p,
            max_tokens=chat.max_tokens,
            **({"extra_body": extra} if extra else {}),
        )

    def solve(self, question: str) -> AgentRun:
        from smolagents import CodeAgent
        from smolagents.memory import ActionStep
        from smolagents.monitoring import LogLevel
        from smolagents.utils import AgentError, AgentMaxStepsError

        run = AgentRun()
        pending: list[dict[str, Any]] = []
        over_budget = threading.Event()

        def on_step(step: ActionStep, agent: Any) -> None:
            usage = step.token_usage
            tokens = (usage.input_tokens, usage.output_tokens) if usage else (0, 0)
            output = step.model_output if step.model_output is not None else step.action_output
            calls = [{"name": c["name"], "arguments": c["arguments"]} for c in pending]
            run.model_turn(text_of(output), calls, tokens)
            for call in pending:
                run.tool_result(call["name"], call["arguments"], call["ok"], call["content"])
            pending.clear()
            if step.observations:
                run.note(step.observations)
            elif step.error is not None:
                run.note(str(step.error))
            if sum(tokens) >= self.limits.token_budget:
                over_budget.set()
                agent.interrupt()

        agent = CodeAgent(
            tools=[RecordedTool(tool, pending) for tool in self.tools],
            model=self.model,
            max_steps=self.limits.max_turns,
            verbosity_level=LogLevel.OFF,
            step_callbacks={ActionStep: on_step},
        )
        try:
            output = agent.run(question)
        except AgentError as error:
            if over_budget.is_set() or is_context_overflow(str(error)):
                return run.finish(None, "token_budget")
            raise
        hit_limit = any(
            isinstance(getattr(step, "error", None), AgentMaxStepsError)
            for step in agent.memory.steps
        )
        return run.finish(
            None if output is None else str(output), "max_turns" if hit_limit else "answer"
        )

    def close(self) -> None:
        self.client.disconnect()


@functools.cache
def _recorded_tool_class() -> type:
    from smolagents import Tool

    class RecordedTool(Tool):
        """An MCP tool that notes each call and its result for the trajectory."""

        skip_forward_signature_validation = True

        def __init__(self, inner: Any, log: list[dict[str, Any]]) -> None:
            self.inner = inner
            self.log = log
            self.name = inner.name
            self.description = inner.description
            self.inputs = inner.inputs
            self.output_type = inner.output_type
            self.output_schema = getattr(inner, "output_schema", None)
            self.is_initialized = True

        def forward(self, *args: Any, **kwargs: Any) -> Any:
            arguments = args[0] if len(args) == 1 and isinstance(args[0], dict) else kwargs
            try:
                output = self.inner.forward(*args, **kwargs)
            except Exception as error:
                self.log.append(
                    {"name": self.name, "arguments": arguments, "ok": False, "content": str(error)}
                )
                raise
            text = text_of(output)
            # mcpadapt hands a tool's error result back as text: our server's start "Error".
            ok = not text.startswith(ERROR_PREFIXES)
            self.log.append({"name": self.name, "arguments": arguments, "ok": ok, "content": text})
            return output

    return RecordedTool


def RecordedTool(inner: Any, log: list[dict[str, Any]]) -> Any:
    return _recorded_tool_class()(inner, log)
