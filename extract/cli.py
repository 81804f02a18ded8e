"""The ``jixiao`` command line: it parses arguments and wires the stages, nothing more."""

from __future__ import annotations

import importlib
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from extract import __version__
from extract.pipeline import expand_paths, iter_paths
from schemas.record import ErrorEntry, Record

app = typer.Typer(
    name="jixiao",
    help="Read OCR text of performance self-evaluation tables (绩效自评表) into validated records.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"jixiao {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """jixiao: 绩效自评表 OCR text → records (JSON Lines), checks, review and evaluation."""


@app.command()
def extract(
    paths: Annotated[list[Path], typer.Argument(help="OCR text files or folders of them.")],
    output: Annotated[str, typer.Option("-o", "--output", help="Where to write the records (JSON Lines); - for stdout.")] = "-",
    backend: Annotated[str, typer.Option(help="auto (hybrid when an LLM endpoint is configured, else rules), "
                                              "rules (offline), llm or hybrid.")] = "auto",
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar or summary.")] = False,
    known_names_file: Annotated[Path | None, typer.Option(
        "--known-names", help="Known unit/department names: one a line, or CSV name,code.")] = None,
    db: Annotated[str | None, typer.Option(
        "--db", help="Store documents, records and flags in this database (SQLite file or SQLAlchemy URL) for "
                     "review; documents already stored are skipped. Records go to -o only if it names a file.")] = None,
    llm_all: Annotated[bool, typer.Option("--llm-all", help="hybrid: send every table to the LLM, not only "
                                                            "those the checks flag.")] = False,
    max_tokens_total: Annotated[int | None, typer.Option(
        "--max-tokens-total", min=1, help="Token budget of the run: no table is sent once it is spent.")] = None,
    model: Annotated[str | None, typer.Option(help="LLM model (else JIXIAO_MODEL or the config file).")] = None,
    base_url: Annotated[str | None, typer.Option(
        help="OpenAI-compatible endpoint (else OPENAI_BASE_URL or the config file).")] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, help="LLM calls at a time (else JIXIAO_CONCURRENCY, 4).")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Where LLM answers are cached (else JIXIAO_CACHE_DIR, "
                                                        "~/.cache/jixiao/llm).")] = None,
) -> None:
    """Find every self-evaluation table in the documents and write one record per table."""
    known_names = _load_known_names(known_names_file)
    files = expand_paths(paths)
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        err.print(f"[red]error:[/] no such file or folder: {', '.join(missing)}")
        raise typer.Exit(2)
    if not files:
        err.print("[red]error:[/] no text files found in the given folders (looked for .txt, .text, .md, .tsv)")
        raise typer.Exit(2)
    from extract.cli_llm import llm_session_for, print_llm_usage

    backend, llm = llm_session_for(backend, err, llm_all=llm_all, max_tokens_total=max_tokens_total, model=model,
                                   base_url=base_url, concurrency=concurrency, cache_dir=cache_dir)
    store_run = None
    if db is not None:
        from extract.cli_store import start_store_run

        store_run = start_store_run(db, files, backend, quiet)
        files = store_run.pending
    stream = (None if store_run is not None else sys.stdout) if output == "-" else _open_output(output)
    counts: Counter[str] = Counter()
    show_progress = not quiet and len(files) > 1
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=err, disable=not show_progress, transient=True) as progress:
            task = progress.add_task("extracting", total=len(files))
            if llm is not None:
                llm.progress = lambda done, total: progress.update(task, description=f"LLM: {done}/{total} tables")
            for path, outcome in zip(files, iter_paths(files, backend, known_names=known_names, llm=llm)):
                counts["documents"] += 1
                if store_run is not None:
                    store_run.save(path, outcome)
                for warning in outcome.warnings:
                    if not quiet:
                        err.print(f"[yellow]warning:[/] {warning}")
                for flag in outcome.document_flags:
                    counts["document flags"] += 1
                    if not quiet:
                        where = "" if flag.message.startswith(outcome.doc) else f"{outcome.doc}: "
                        err.print(f"[yellow]{flag.severity}:[/] {where}{flag.message}", highlight=False)
                for result in outcome.results:
                    if stream is not None:
                        stream.write(result.model_dump_json(exclude_none=False) + "\n")
                    _count(result, counts, quiet)
                progress.update(task, advance=1, description=f"extracting {outcome.doc[:40]}")
        if store_run is not None:
            store_run.finish()
    finally:
        if stream is not None and stream is not sys.stdout:
            stream.close()
        if store_run is not None:
            store_run.close()
    if not quiet:
        _summary(counts, output if stream is not None or store_run is None else store_run.where)
        if llm is not None:
            print_llm_usage(err, llm)
    if counts["records"] == 0 and counts["errors"]:
        raise typer.Exit(1)


def _load_known_names(path: Path | None):
    if path is None:
        return None
    from extract.names import KnownNamesError, load_known_names

    try:
        return load_known_names(path)
    except (KnownNamesError, OSError) as error:
        err.print(f"[red]error:[/] --known-names {path}: {error}")
        raise typer.Exit(2) from None


def _open_output(output: str):
    path = Path(output)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("w", encoding="utf-8")
    except OSError as error:
        err.print(f"[red]error:[/] cannot write {output}: {error.strerror or error}")
        raise typer.Exit(2) from None


def _count(result: Record | ErrorEntry, counts: Counter[str], quiet: bool) -> None:
    if isinstance(result, ErrorEntry):
        counts["errors"] += 1
        if result.stage != "load":
            counts["tables"] += 1
        if not quiet:
            where = f":{result.start_line}" if result.start_line else ""
            message = result.message.removeprefix(f"{result.doc}: ")
            err.print(f"[red]error:[/] {result.doc}{where} ({result.stage}): {message}", highlight=False)
        return
    counts["tables"] += 1
    counts["records"] += 1
    counts["flags"] += len(result.flags)
    counts["flag errors"] += sum(flag.severity == "error" for flag in result.flags)


def _summary(counts: Counter[str], output: str) -> None:
    where = "stdout" if output == "-" else output
    err.print(f"{counts['documents']} documents, {counts['tables']} tables → {counts['records']} records "
              f"({where}), {counts['errors']} errors, {counts['flags']} flags "
              f"({counts['flag errors']} of severity error)")


def _register_optional_commands() -> None:
    """Commands whose modules each own one stage (eval, check, review, export)."""
    for name in ("extract.cli_eval", "extract.cli_check", "extract.cli_store", "extract.cli_llm"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name == name:
                continue
            raise
        module.register(app)


_register_optional_commands()


def main() -> None:
    app()
