"""``native``: the episode loop the model is trained in (``env.run_episodes``), over a chat
endpoint, with the search tools reached through MCP.

The system prompt lists the MCP server's tools; each turn stops at a closed tool call or
answer; the tool's output comes back as a ``<result>`` turn, as in training. A turn that is not
one valid action gets the parser's reason and the protocol's hint, and costs a turn. Limits,
stop reasons and the result cut are training's own (:class:`~nanosearch.env.EnvConfig`).
"""

from __future__ import annotations

from nanosearch.env import EnvConfig, run_episodes
from nanosearch.eval.agents.base import AgentRun
from nanosearch.eval.chat_client import ChatPolicy, ChatSettings
from nanosearch.eval.mcp_connection import McpConnection, McpTools
from nanosearch.protocol import Episode, parse_turn, result_content


class NativeAgent:
    name = "native"

    def __init__(self, chat: ChatSettings, mcp: McpConnection, limits: EnvConfig) -> None:
        self.policy = ChatPolicy(chat)
        self.tools = McpTools(mcp)
        self.limits = limits

    def solve(self, question: str) -> AgentRun:
        (episode,) = run_episodes(
            self.policy, self.tools, None, [{"question": question}], self.limits
        )
        return run_of(episode, {spec.name for spec in self.tools.specs})

    def close(self) -> None:
        self.policy.close()


def run_of(episode: Episode, tool_names: set[str]) -> AgentRun:
    """An episode as the evaluation records it: every model turn, the call it made, and the
    tool's output or the feedback it got, as the model read it."""
    run = AgentRun()
    calls = iter(episode.tool_calls)
    messages = episode.messages[2:]
    for position, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        parsed = parse_turn(message["content"], tool_names)
        following = messages[position + 1] if position + 1 < len(messages) else None
        shown = result_content(following["content"]) if following else None
        if parsed.kind == "tool":
            call = [{"name": parsed.tool_name, "arguments": parsed.tool_arguments}]
            run.model_turn(message["content"], call)
            if shown is not None:
                ran = next(calls)
                run.tool_result(ran.name or "", ran.arguments, ran.ok, shown)
            continue
        run.model_turn(message["content"])
        if shown is not None:
            if parsed.tool_name is not None:
                next(calls, None)  # the call that did not parse
            run.note(shown)
    run.prompt_tokens, run.completion_tokens = episode.prompt_tokens, episode.completion_tokens
    return run.finish(episode.answer, episode.stop_reason or "max_turns")
