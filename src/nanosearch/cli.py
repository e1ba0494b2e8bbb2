"""The ``nanosearch`` command."""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from nanosearch.allocator import run_with_tuned_allocator
from nanosearch.errors import NanosearchError
from nanosearch.protocol import RESULT_CHARS

app = typer.Typer(
    name="nanosearch",
    help="Train and evaluate small search agents the Jan-nano way.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

F = TypeVar("F", bound=Callable[..., Any])
MAX_REPORTED_PROBLEMS = 20


def friendly_errors(command: F) -> F:
    """Turn the errors a user can cause into one line on stderr and exit status 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except NanosearchError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
        except OSError as error:
            typer.echo(
                f"error: {error.strerror or error}: {error.filename or ''}".rstrip(": "), err=True
            )
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


class ProblemPrinter:
    """Prints the first malformed records of a corpus to stderr, then only counts them."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, problem: Any) -> None:
        self.count += 1
        if self.count <= MAX_REPORTED_PROBLEMS:
            typer.echo(f"warning: skipped {problem}", err=True)

    def summary(self) -> None:
        if self.count > MAX_REPORTED_PROBLEMS:
            typer.echo(
                f"warning: {self.count} malformed records skipped in all "
                f"({self.count - MAX_REPORTED_PROBLEMS} not shown)",
                err=True,
            )


IndexDir = Annotated[
    Path, typer.Option("--index", help="Index directory built by `nanosearch index`.")
]
ServedIndex = Annotated[
    Path | None,
    typer.Option("--index", help="Index directory built by `nanosearch index` (--backend local)."),
]
Backend = Annotated[
    str,
    typer.Option(
        help="What the tools search: local (the index), or the web through serper, searxng, "
        "brave or tavily (keys from SERPER_API_KEY, BRAVE_API_KEY, TAVILY_API_KEY)."
    ),
]
BackendUrl = Annotated[
    str | None,
    typer.Option(help="Address of the web backend's API (SearXNG is self-hosted: required)."),
]
ResultChars = Annotated[
    int,
    typer.Option(
        min=64,
        help="Characters of a tool's reply the model sees (a fetched page is fitted to it): "
        "the recipe's generation.result_chars, to show a model what training showed it.",
    ),
]

ToolFormat = Annotated[
    str,
    typer.Option(
        "--protocol",
        help="Tool protocol of the episodes: xml (<tool> calls, <result> turns) or hermes "
        "(<tool_call> blocks, tools= and tool messages): the recipe's protocol.",
    ),
]


@app.command()
@friendly_errors
def index(
    corpus: Annotated[Path, typer.Option(help="Corpus file: JSONL, MuSiQue JSONL or Parquet.")],
    out: Annotated[Path, typer.Option(help="Directory to write the index to.")],
    format: Annotated[
        str, typer.Option("--format", help="auto, jsonl, musique or parquet.")
    ] = "auto",
    retriever: Annotated[str, typer.Option(help="bm25, dense or hybrid.")] = "bm25",
    model: Annotated[
        str, typer.Option(help="sentence-transformers model id or path (dense and hybrid).")
    ] = "sentence-transformers/all-MiniLM-L6-v2",
) -> None:
    """Build a search index from a corpus file."""
    from nanosearch.corpus import detect_format, read_corpus
    from nanosearch.search import build_index

    started = time.perf_counter()
    problems = ProblemPrinter()
    resolved = detect_format(corpus) if format == "auto" else format
    documents = read_corpus(corpus, resolved, on_problem=problems)
    engine = build_index(
        documents,
        out,
        retriever,
        dense_model=model,
        corpus_info={"path": str(corpus), "format": resolved},
    )
    problems.summary()
    typer.echo(
        f"indexed {len(engine)} documents from {corpus} ({resolved}) into {out} "
        f"with {retriever} in {time.perf_counter() - started:.1f} s"
    )


@app.command()
@friendly_errors
def search(
    queries: Annotated[list[str], typer.Argument(help="One or more queries.", show_default=False)],
    index: IndexDir,
    k: Annotated[int, typer.Option("--k", help="Results per query.")] = 10,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per query and line.")
    ] = False,
) -> None:
    """Search an index; one result list per query."""
    from nanosearch.search import load

    engine = load(index)
    for query, hits in zip(queries, engine.search(queries, k), strict=True):
        if as_json:
            record = {"query": query, "hits": [hit.to_dict() for hit in hits]}
            typer.echo(json.dumps(record, ensure_ascii=False))
            continue
        typer.echo(f"query: {query}")
        if not hits:
            typer.echo("  no results")
        for rank, hit in enumerate(hits, start=1):
            where = hit.url or hit.id
            typer.echo(f"{rank:3d}. {hit.title}  [{where}]  score {hit.score:.3f}")
            typer.echo(f"     {hit.snippet}")
        typer.echo("")


@app.command()
@friendly_errors
def fetch(
    doc_id: Annotated[str, typer.Argument(metavar="DOC_ID", help="A document id from a search.")],
    index: IndexDir,
    as_json: Annotated[bool, typer.Option("--json", help="Print the document as JSON.")] = False,
) -> None:
    """Print one document of an index."""
    from nanosearch.search import load

    document = load(index).fetch(doc_id)
    if as_json:
        typer.echo(json.dumps(document.to_dict(), ensure_ascii=False))
        return
    typer.echo(f"id: {document.id}")
    typer.echo(f"title: {document.title}")
    if document.url:
        typer.echo(f"url: {document.url}")
    typer.echo("")
    typer.echo(document.text)


@app.command()
@friendly_errors
def serve(
    index: ServedIndex = None,
    backend: Backend = "local",
    backend_url: BackendUrl = None,
    host: Annotated[
        str, typer.Option(help="Address to bind; loopback unless exposed on purpose.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes sharing the mapped index.")] = 1,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="NANOSEARCH_API_KEY",
            help="Require this bearer token (all but /health). Prefer the environment "
            "variable: a key given as a flag is visible to every user in `ps`.",
        ),
    ] = None,
    jan_aliases: Annotated[
        bool, typer.Option(help="Also offer the MCP tools as google_search(q) and scrape(url).")
    ] = False,
    max_batch: Annotated[int, typer.Option(help="Queries per request.")] = 512,
    max_query_chars: Annotated[int, typer.Option(help="Characters per query.")] = 2000,
    max_k: Annotated[int, typer.Option(help="Results per query.")] = 100,
    max_fetch_chars: Annotated[int, typer.Option(help="Characters per fetched page.")] = 50_000,
    result_chars: ResultChars = RESULT_CHARS,
    max_body_bytes: Annotated[int, typer.Option(help="Bytes per request body.")] = 1_048_576,
    body_seconds: Annotated[
        float, typer.Option(help="Seconds a request body may pause before a 408.")
    ] = 30.0,
    header_seconds: Annotated[
        float, typer.Option(help="Seconds a client has to send a request's headers.")
    ] = 10.0,
    max_connections: Annotated[
        int, typer.Option(help="Open connections per worker; more are answered 503.")
    ] = 256,
) -> None:
    """Serve an index or a web search API over HTTP (/search, /fetch, /retrieve, /health,
    /info) and MCP at /mcp."""
    from nanosearch.server.http_app import serve as run_server
    from nanosearch.tools import ServerLimits

    if any(arg == "--api-key" or arg.startswith("--api-key=") for arg in sys.argv):
        typer.echo(
            "warning: a key given with --api-key is visible to every user of this machine "
            "in `ps`; set NANOSEARCH_API_KEY instead",
            err=True,
        )

    limits = ServerLimits(
        max_batch=max_batch,
        max_query_chars=max_query_chars,
        max_k=max_k,
        max_fetch_chars=max_fetch_chars,
        result_chars=result_chars,
        max_body_bytes=max_body_bytes,
        body_seconds=body_seconds,
        header_seconds=header_seconds,
        max_connections=max_connections,
    )
    run_server(
        None if index is None else str(index),
        host,
        port,
        workers,
        limits,
        api_key,
        jan_aliases,
        backend,
        backend_url,
    )


@app.command()
@friendly_errors
def mcp(
    index: ServedIndex = None,
    backend: Backend = "local",
    backend_url: BackendUrl = None,
    jan_aliases: Annotated[
        bool, typer.Option(help="Also offer the tools as google_search(q) and scrape(url).")
    ] = False,
    result_chars: ResultChars = RESULT_CHARS,
) -> None:
    """Serve an index or a web search API as an MCP server over stdio (for MCP clients that
    launch it)."""
    from nanosearch.server.mcp_tools import create_mcp_server, open_source
    from nanosearch.tools import ServerLimits

    limits = ServerLimits(result_chars=result_chars)
    source = open_source(None if index is None else str(index), backend, backend_url)
    create_mcp_server(source, limits, jan_aliases=jan_aliases).run("stdio")


@app.command()
@friendly_errors
def rollout(
    model: Annotated[str, typer.Option(help="Policy model: a hub id or a local directory.")],
    questions: Annotated[
        Path, typer.Option(help="JSONL of examples with 'question' (and 'answer' to score).")
    ],
    index: IndexDir,
    out: Annotated[Path, typer.Option(help="JSONL file to write the episodes to.")],
    n: Annotated[
        int, typer.Option("--n", help="How many episodes (questions taken in order).")
    ] = 8,
    batch_size: Annotated[int, typer.Option(help="Episodes generated together.")] = 8,
    max_turns: Annotated[int, typer.Option(help="Model turns per episode at most.")] = 10,
    token_budget: Annotated[int, typer.Option(help="Tokens per episode, prompt included.")] = 8192,
    temperature: Annotated[float, typer.Option(help="Sampling temperature (0 = greedy).")] = 0.7,
    top_p: Annotated[float, typer.Option(help="Nucleus sampling.")] = 0.8,
    stage: Annotated[int, typer.Option(help="Reward stage to score the episodes with.")] = 1,
    thinking: Annotated[bool, typer.Option(help="Let the chat template enable thinking.")] = False,
    protocol: ToolFormat = "xml",
) -> None:
    """Run episodes of a model on questions against an index and write them as JSONL."""
    from nanosearch.train.episodes_file import rollout_file

    written = rollout_file(
        model,
        questions,
        index,
        out,
        n=n,
        batch_size=batch_size,
        max_turns=max_turns,
        token_budget=token_budget,
        temperature=temperature,
        top_p=top_p,
        stage=stage,
        thinking=thinking,
        protocol=protocol,
    )
    typer.echo(f"wrote {written} episodes to {out}")


@app.command()
@friendly_errors
def train(
    recipe: Annotated[
        Path, typer.Option(help="Recipe directory (with recipe.yaml) or a recipe YAML file.")
    ],
    out: Annotated[
        Path | None, typer.Option(help="Run directory (default: runs/<recipe name>).")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue a killed run: finished stages are not re-run.")
    ] = False,
    in_process: Annotated[
        bool,
        typer.Option(
            help="Run every stage in this process instead of one process per stage "
            "(starts faster; on a GPU, a stage's memory is then not returned before the next)."
        ),
    ] = False,
) -> None:
    """Train with DAPO through the recipe's stages, each from the previous stage's weights,
    each in a process of its own."""
    from nanosearch.train.curriculum import train_recipe

    result = train_recipe(recipe, out, resume=resume, echo=typer.echo, in_process=in_process)
    for line in result.summary():
        typer.echo(line)


@app.command()
@friendly_errors
def world(
    out: Annotated[Path, typer.Option(help="Directory to write the world to.")],
    seed: Annotated[int, typer.Option(help="The world's seed: the same seed, the same world.")] = 0,
    entities: Annotated[int, typer.Option(help="How many entities (50 or more).")] = 600,
    tokenizer: Annotated[
        str,
        typer.Option(
            help="own: invented names and a tokenizer learnt from this world's text; shared: "
            "names from the fixed lexicon and the tokenizer every world shares, one token per "
            "lexicon word (a base pretrained on fresh worlds needs it)."
        ),
    ] = "own",
) -> None:
    """Generate a synthetic world: a fictional encyclopedia (corpus.jsonl), 1- to 3-hop questions
    split by subject entity (questions/train|dev|test.jsonl) and its tokenizer."""
    from nanosearch.world import build_world, read_description

    if entities < 50:
        raise NanosearchError(f"--entities must be at least 50, got {entities}")
    directory = build_world(seed, entities, out, tokenizer=tokenizer)
    description = read_description(directory)
    kinds = ", ".join(f"{n} {kind}" for kind, n in description["entities_by_kind"].items())
    typer.echo(f"world of seed {seed}: {description['entities']} entities ({kinds})")
    for split, hops in description["questions_by_hops"].items():
        by_hops = ", ".join(f"{n} {h}-hop" for h, n in hops.items())
        typer.echo(f"{split}: {description['questions'][split]} questions ({by_hops})")
    typer.echo(f"corpus: {directory / 'corpus.jsonl'} (index it with `nanosearch index --corpus`)")
    typer.echo(f"tokenizer ({tokenizer}): {directory / 'tokenizer'}")


JudgeUrl = Annotated[
    str | None, typer.Option(help="The LLM judge's OpenAI-compatible endpoint (…/v1).")
]
JudgeModel = Annotated[str | None, typer.Option(help="The judge's model name.")]
JudgeTemplateFile = Annotated[
    Path | None,
    typer.Option(
        help="Grader prompt with {question}, {target} and {predicted_answer} (simple-evals' "
        "SimpleQA GRADER_TEMPLATE works unchanged); its A/B/C letters are read as grades."
    ),
]
JudgeKey = Annotated[
    str | None,
    typer.Option(envvar="NANOSEARCH_JUDGE_API_KEY", help="The judge's key.", show_default=False),
]
EvalOut = Annotated[Path, typer.Option(help="Run directory (results.jsonl, summary.json).")]
AgentRuntime = Annotated[str, typer.Option(help="Agent runtime: native, react or codeagent.")]
EvalModel = Annotated[
    str | None,
    typer.Option(
        help="Model: a local directory or hub id run in this process, or the model name "
        "the endpoint serves when --base-url is given."
    ),
]
ModelUrl = Annotated[
    str | None,
    typer.Option(help="OpenAI-compatible endpoint (vLLM, llama.cpp, a hosted API), .../v1."),
]
ModelKey = Annotated[
    str | None,
    typer.Option(
        envvar=["NANOSEARCH_MODEL_API_KEY", "OPENAI_API_KEY"],
        help="Bearer key of the endpoint.",
        show_default=False,
    ),
]
AgentIndex = Annotated[
    Path | None, typer.Option(help="Index to serve to the agent over MCP (stdio).")
]
McpUrl = Annotated[
    str | None, typer.Option("--mcp", help="URL of a running MCP server (streamable HTTP).")
]
SampleSeed = Annotated[int, typer.Option(help="Seed of --sample.")]
GraderName = Annotated[str, typer.Option(help="offline (rules) or llm (a judge endpoint).")]
ThinkingMode = Annotated[
    str, typer.Option(help="on, off (sent as enable_thinking) or auto (not sent).")
]
Temperature = Annotated[float, typer.Option(help="Sampling temperature.")]
TopP = Annotated[float, typer.Option(help="Nucleus sampling.")]
TurnTokens = Annotated[int, typer.Option(help="Tokens per model turn at most.")]
MaxTurns = Annotated[int, typer.Option(help="Model turns per question at most.")]
ContextBudget = Annotated[
    int, typer.Option(help="Stop a question once a call's prompt + reply reach this.")
]
Concurrency = Annotated[
    int | None,
    typer.Option(
        help="Questions in flight at once (default: 4 against --base-url; 16 for an in-process "
        "--model, which generates their waiting turns as one batch of up to 16).",
        min=1,
        show_default=False,
    ),
]
Retries = Annotated[int, typer.Option(help="Retries of a transient endpoint error.")]
ResumeRun = Annotated[
    bool, typer.Option(help="Continue DIR: graded questions are skipped, never re-asked.")
]
eval_app = typer.Typer(
    help="Evaluate agents: SimpleQA and QA benchmarks through MCP tools.", no_args_is_help=True
)
app.add_typer(eval_app, name="eval")


@eval_app.command("simpleqa")
@friendly_errors
def eval_simpleqa(
    out: EvalOut,
    agent: AgentRuntime = "native",
    model: EvalModel = None,
    base_url: ModelUrl = None,
    api_key: ModelKey = None,
    index: AgentIndex = None,
    mcp: McpUrl = None,
    backend: Backend = "local",
    backend_url: BackendUrl = None,
    data: Annotated[
        str | None,
        typer.Option(
            help="SimpleQA CSV path or hub id (default: the bundled set), or a QA JSONL file "
            "({question, answer[, answer_aliases]} or FlashRAG's {question, golden_answers})."
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option(help="First N questions (after filters).")] = None,
    sample: Annotated[int | None, typer.Option(help="A seeded random sample of N.")] = None,
    seed: SampleSeed = 0,
    topic: Annotated[
        list[str] | None, typer.Option(help="Only this topic (repeatable).", show_default=False)
    ] = None,
    answer_type: Annotated[
        list[str] | None,
        typer.Option(help="Only this answer type (repeatable).", show_default=False),
    ] = None,
    grader: GraderName = "offline",
    judge_base_url: JudgeUrl = None,
    judge_model: JudgeModel = None,
    judge_api_key: JudgeKey = None,
    judge_template: JudgeTemplateFile = None,
    thinking: ThinkingMode = "off",
    temperature: Temperature = 0.7,
    top_p: TopP = 0.8,
    max_tokens: TurnTokens = 1024,
    max_turns: MaxTurns = 10,
    context_budget: ContextBudget = 8192,
    result_chars: ResultChars = RESULT_CHARS,
    protocol: ToolFormat = "xml",
    concurrency: Concurrency = None,
    retries: Retries = 4,
    resume: ResumeRun = False,
) -> None:
    """Run SimpleQA questions through an agent whose search tools come over MCP; grade them."""
    given = dict(locals())
    from nanosearch.eval.cli_run import EvalOptions, run_from_options

    for line in run_from_options(EvalOptions(**given)):
        typer.echo(line)


@eval_app.command("qa")
@friendly_errors
def eval_qa(
    out: EvalOut,
    agent: AgentRuntime = "native",
    model: EvalModel = None,
    base_url: ModelUrl = None,
    api_key: ModelKey = None,
    index: AgentIndex = None,
    mcp: McpUrl = None,
    backend: Backend = "local",
    backend_url: BackendUrl = None,
    data: Annotated[
        list[str] | None,
        typer.Option(
            help="A QA data set (repeatable): a JSONL file of FlashRAG / Search-R1 "
            "({question, golden_answers}) or MuSiQue ({question, answer, answer_aliases}), or a "
            "hub id with its config (RUC-NLPIR/FlashRAG_datasets:nq); NAME=SOURCE names it.",
            show_default=False,
        ),
    ] = None,
    split: Annotated[str, typer.Option(help="Split of a hub data set.")] = "test",
    limit: Annotated[int | None, typer.Option(help="First N questions of each data set.")] = None,
    sample: Annotated[
        int | None, typer.Option(help="A seeded random sample of N per data set.")
    ] = None,
    seed: SampleSeed = 0,
    grader: GraderName = "offline",
    judge_base_url: JudgeUrl = None,
    judge_model: JudgeModel = None,
    judge_api_key: JudgeKey = None,
    judge_template: JudgeTemplateFile = None,
    thinking: ThinkingMode = "off",
    temperature: Temperature = 0.7,
    top_p: TopP = 0.8,
    max_tokens: TurnTokens = 1024,
    max_turns: MaxTurns = 10,
    context_budget: ContextBudget = 8192,
    result_chars: ResultChars = RESULT_CHARS,
    protocol: ToolFormat = "xml",
    concurrency: Concurrency = None,
    retries: Retries = 4,
    resume: ResumeRun = False,
) -> None:
    """Run QA benchmarks (NQ, HotpotQA, MuSiQue, ...) through an agent whose search tools come
    over MCP: exact match, cover exact match and F1 per data set, beside the SimpleQA grades."""
    given = dict(locals(), task="qa")
    from nanosearch.eval.cli_run import EvalOptions, run_from_options

    for line in run_from_options(EvalOptions(**given)):
        typer.echo(line)


@eval_app.command("agreement")
@friendly_errors
def eval_agreement(
    judge_base_url: JudgeUrl = None,
    judge_model: JudgeModel = None,
    judge_api_key: JudgeKey = None,
    judge_template: JudgeTemplateFile = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
) -> None:
    """Agreement of the offline grader (and the LLM judge, if given) with the labelled hard
    cases, and with each other."""
    from nanosearch.eval.agreement import agreement, labelled_cases
    from nanosearch.eval.grading import grade_offline

    graders = {"offline": lambda problem, answer, prediction: grade_offline(prediction, answer)}
    if judge_base_url and judge_model:
        from nanosearch.eval.judge import BUILT_IN, JudgeTemplate, LLMJudge

        template = BUILT_IN if judge_template is None else JudgeTemplate.from_file(judge_template)
        judge = LLMJudge(judge_base_url, judge_model, api_key=judge_api_key, template=template)
        graders[judge.name] = judge.grade
    elif judge_base_url or judge_model or judge_template:
        raise NanosearchError(
            "give both --judge-base-url and --judge-model (and --judge-template if wanted), or none"
        )
    result = agreement(graders, labelled_cases())
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    cases = result["cases"]
    for name, found in result["with_labels"].items():
        typer.echo(f"{name} vs labels: {found['agree']}/{cases} agree, kappa {found['kappa']:.3f}")
    for pair, found in result["between"].items():
        typer.echo(f"{pair}: {found['agree']}/{cases} agree, kappa {found['kappa']:.3f}")


@app.command()
@friendly_errors
def report(
    runs: Annotated[list[Path], typer.Argument(help="Run directories of `nanosearch eval`.")],
    out: Annotated[
        Path | None, typer.Option(help="Where to write the report (default: the first run).")
    ] = None,
) -> None:
    """Write report.md, report.html and a bar chart comparing runs with the published figures."""
    from nanosearch.eval.report import write_report

    for path in write_report(runs, out or runs[0]):
        typer.echo(f"wrote {path}")


@app.command()
@friendly_errors
def demo(
    out: Annotated[Path, typer.Option(help="Directory for the demo's outputs.")] = Path(
        "runs/demo"
    ),
    recipe: Annotated[Path, typer.Option(help="The world recipe to train.")] = Path(
        "recipes/world-demo"
    ),
    questions: Annotated[
        int | None,
        typer.Option(help="Test questions each model answers (default: the whole test split)."),
    ] = None,
) -> None:
    """The main job on the embedded default, the learning proof: a seeded world, its index and
    format-only base, the three DAPO stages, then the base and the trained model evaluated on
    the world's test split over MCP and reported side by side. Re-running resumes."""
    from nanosearch.demo import run_demo

    run_demo(out, recipe, questions)


def main() -> None:
    run_with_tuned_allocator()
    app(prog_name="nanosearch")


if __name__ == "__main__":
    sys.exit(main())
