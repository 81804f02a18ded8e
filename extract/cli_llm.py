"""Command-line pieces of the LLM backends: resolving ``--backend``, the usage summary, ``llm-check``.

``extract/cli.py`` calls ``llm_session_for`` and ``print_llm_usage`` from its ``extract``
command; ``register`` adds ``jixiao llm-check``, which shows the LLM settings in effect
(never the key) and, with ``--ping``, asks the endpoint about one small table to show
that it answers in the configured mode (local servers often lack tool calling).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from extract.llm.runner import LLMSession
from extract.llm.settings import (
    LLMSettings,
    SettingsError,
    load_settings,
    resolve_backend,
)

BACKENDS = ("auto", "rules", "llm", "hybrid")
PER_TABLE_LINES = 30


def llm_session_for(backend: str, err: Console, *, llm_all: bool = False, max_tokens_total: int | None = None,
                    model: str | None = None, base_url: str | None = None, concurrency: int | None = None,
                    cache_dir: Path | None = None) -> tuple[str, LLMSession | None]:
    """The backend to run (``auto`` resolved) and, for llm/hybrid, the run's LLM session.

    Bad settings, an unknown backend or an LLM backend without an endpoint end the command
    with a one-line error (exit 2).
    """
    if backend not in BACKENDS:
        err.print(f"[red]error:[/] unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
        raise typer.Exit(2)
    try:
        settings = load_settings(model=model, base_url=base_url, concurrency=concurrency, cache_dir=cache_dir,
                                 max_tokens_total=max_tokens_total)
    except SettingsError as error:
        if backend == "rules":
            return "rules", None
        if backend == "auto":
            err.print(f"[yellow]warning:[/] LLM settings ignored ({error}); using the rules backend")
            return "rules", None
        err.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from None
    resolved = resolve_backend(backend, settings)
    if resolved == "rules":
        if llm_all:
            err.print("[yellow]warning:[/] --llm-all has no effect with the rules backend")
        return "rules", None
    if not settings.endpoint_configured and settings.api_key is None:
        err.print(f"[red]error:[/] backend {resolved} needs an LLM endpoint: set OPENAI_BASE_URL (e.g. a local "
                  "server) or OPENAI_API_KEY and JIXIAO_MODEL, or pass --base-url")
        raise typer.Exit(2)
    if llm_all and resolved != "hybrid":
        err.print("[yellow]warning:[/] --llm-all only matters with --backend hybrid (llm sends every table anyway)")
    return resolved, LLMSession(settings, llm_all=llm_all)


def print_llm_usage(err: Console, session: LLMSession) -> None:
    """The run's LLM usage: one summary line, then the tables that made calls (most expensive first)."""
    from extract.llm.runner import usage_summary

    err.print(usage_summary(session.totals, session.settings), highlight=False)
    sent = [table for table in session.tables if table.status != "cached" or table.calls]
    if not sent:
        return
    sent.sort(key=lambda table: -(table.prompt_tokens + table.completion_tokens))
    for table in sent[:PER_TABLE_LINES]:
        note = f" ({table.error})" if table.error else ""
        err.print(f"  {table.doc}:{table.start_line}  {table.status}, {table.calls} calls, "
                  f"{table.prompt_tokens} + {table.completion_tokens} tokens{note}", highlight=False)
    if len(sent) > PER_TABLE_LINES:
        err.print(f"  … {len(sent) - PER_TABLE_LINES} more tables", highlight=False)


def _check(settings: LLMSettings, ping: bool, console: Console) -> int:
    for key, value in settings.describe().items():
        console.print(f"{key:>17}: {value}", highlight=False)
    console.print(f"{'endpoint set':>17}: {'yes' if settings.endpoint_configured else 'no'} "
                  f"(auto backend → {resolve_backend('auto', settings)})", highlight=False)
    if not ping:
        return 0
    from extract.llm.client import LLMUnavailable

    session = LLMSession(settings.model_copy(update={"no_cache": True}))
    try:
        reply = session.ask_all([_ping_request()])[0]
    except LLMUnavailable as error:
        console.print(f"[red]ping failed:[/] {error}")
        return 1
    if reply.answer is None:
        console.print(f"[red]ping failed:[/] {reply.error}")
        return 1
    console.print(f"[green]ping ok:[/] {session.totals.calls} call(s), {session.totals.total_tokens} tokens; "
                  f"project_name read as {reply.answer.project_name!r}", highlight=False)
    return 0


def _ping_request():
    from extract.llm.grounding import TableIndex
    from extract.llm.prompting import TableLine, TableText, render_prompt
    from extract.llm.response import AnswerCheck
    from extract.llm.runner import TableRequest

    lines = (TableLine(1, ("阳泉市项目支出绩效自评表",)), TableLine(2, ("项目名称", "", "测试项目")),
             TableLine(3, ("项目预算金额（万元）", "", "8")))
    table = TableText("llm-check", 1, 3, "city-project", "阳泉市项目支出绩效自评表", lines)
    return TableRequest(render_prompt(table), AnswerCheck(table, TableIndex(table)))


def register(app: typer.Typer) -> None:
    @app.command("llm-check")
    def llm_check(
        ping: Annotated[bool, typer.Option("--ping", help="Send one small table to the endpoint.")] = False,
        model: Annotated[str | None, typer.Option(help="Model name (else JIXIAO_MODEL / config).")] = None,
        base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible base URL (else OPENAI_BASE_URL).")] = None,
        config: Annotated[Path | None, typer.Option(help="TOML config file with an [llm] table.")] = None,
    ) -> None:
        """Show the LLM settings in effect (the key only as set / not set); --ping tries the endpoint."""
        console = Console(soft_wrap=True)
        try:
            settings = load_settings(config, model=model, base_url=base_url)
        except SettingsError as error:
            Console(stderr=True).print(f"[red]error:[/] {error}")
            raise typer.Exit(2) from None
        raise typer.Exit(_check(settings, ping, console))
