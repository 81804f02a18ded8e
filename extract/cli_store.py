"""``jixiao review`` and ``jixiao export``, and the ``--db`` side of ``jixiao extract``.

The database commands share one way of naming the store (``--db PATH`` for a SQLite
file, or a SQLAlchemy URL such as ``postgresql://user@host/jixiao``) and one way of
failing: a one-line error and exit code 2.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from extract.pipeline import DocumentResult
from extract.store import RunPlan, Store, StoreError, finish_run, open_store, redact_url, save_outcome, start_run

err = Console(stderr=True, soft_wrap=True)
DB_HELP = "The store: a SQLite file, or a SQLAlchemy URL (postgresql://user@host/db)."


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/] {message}", highlight=False)
    return typer.Exit(2)


def _open(db: str, *, create: bool) -> Store:
    try:
        return open_store(db, create=create)
    except StoreError as error:
        raise _fail(str(error)) from None


# ---------------------------------------------------------------------------------------------- extract --db


@dataclass
class StoreRun:
    """The store's part of one ``jixiao extract --db`` run, as the extract command drives it."""

    store: Store
    plan: RunPlan
    db: str
    quiet: bool = False
    added: int = 0
    records: int = 0
    skipped_now: list[str] = field(default_factory=list)

    @property
    def pending(self) -> list[Path]:
        return self.plan.pending

    @property
    def where(self) -> str:
        """The database as it may be shown (no password)."""
        return redact_url(self.db)

    def save(self, path: Path, outcome: DocumentResult) -> None:
        """Store one document as soon as it is extracted (a killed run keeps what it finished)."""
        try:
            result = save_outcome(self.store, self.plan.run_id, path, outcome)
        except StoreError as error:
            raise _fail(str(error)) from None
        if result.added:
            self.added += 1
            self.records += result.records
        elif result.reason != "unreadable":
            self.skipped_now.append(path.name)

    def finish(self) -> None:
        """Mark the run finished (a killed run keeps an empty ``finished_at``) and say what was stored."""
        try:
            run = finish_run(self.store, self.plan.run_id)
        except StoreError as error:
            raise _fail(str(error)) from None
        if not self.quiet:
            skipped = len(self.plan.skipped) + len(self.skipped_now)
            err.print(f"store: {self.added} documents added ({self.records} records), {skipped} already stored "
                      f"and skipped; run {run.id}", highlight=False)

    def close(self) -> None:
        self.store.close()


def start_store_run(db: str, files: list[Path], backend: str, quiet: bool = False) -> StoreRun:
    """Open the store and set aside files whose text it already holds (the extract command calls this)."""
    store = _open(db, create=True)
    try:
        plan = start_run(store, files, backend)
    except StoreError as error:
        store.close()
        raise _fail(str(error)) from None
    return StoreRun(store, plan, db, quiet)


# ---------------------------------------------------------------------------------------------- review


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as error:
            raise _fail(f"cannot listen on {host}:{port} ({error.strerror or error}); pass another --port") from None


def review(
    db: Annotated[str, typer.Option("--db", help=DB_HELP)],
    host: Annotated[str, typer.Option(help="Address to listen on; the default serves this machine only.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8765,
    reviewer: Annotated[str | None, typer.Option(help="Reviewer name to fill in (each change still shows it).")] = None,
) -> None:
    """Serve the review page: flagged fields beside their source lines, corrected or accepted by a reviewer."""
    import uvicorn

    from extract.review import LOOPBACK_HOSTS, create_app
    from extract.store import build_queue

    store = _open(db, create=False)
    with store.session() as session:
        queue = build_queue(session)
    loopback = _is_loopback(host)
    if not loopback:
        err.print(f"[yellow]warning:[/] listening on {host}: anyone who can reach it can change records "
                  "(the page has no login)", highlight=False)
    _check_port(host, port)
    app = create_app(store, default_reviewer=reviewer, allowed_hosts=LOOPBACK_HOSTS if loopback else None)
    shown = f"[{host}]" if ":" in host else host
    err.print(f"reviewing {queue.total - queue.reviewed} pending of {queue.total} flagged fields at "
              f"http://{shown}:{port}/ (Ctrl+C to stop)", highlight=False)
    try:
        uvicorn.run(app, host=host.strip("[]"), port=port, log_level="warning")
    finally:
        store.close()


# ---------------------------------------------------------------------------------------------- export


def export(
    db: Annotated[str, typer.Option("--db", help=DB_HELP)],
    output: Annotated[Path, typer.Option("-o", "--output", help="The file to write (csv: also NAME.indicators.csv "
                                                                "and NAME.flags.csv beside it).")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl, csv or xlsx.")] = "jsonl",
    log: Annotated[Path | None, typer.Option(help="Where to write the corrections log (.jsonl or .csv); default "
                                                  "NAME.corrections.jsonl/.csv beside the output, the "
                                                  "'corrections' sheet for xlsx.")] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No summary.")] = False,
) -> None:
    """Write the stored records with reviewers' corrections applied, and the corrections log."""
    from extract.export import FORMATS, ExportError, export_store

    if fmt not in FORMATS:
        raise _fail(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    store = _open(db, create=False)
    try:
        summary = export_store(store, fmt, output, log)
    except (ExportError, StoreError) as error:
        raise _fail(str(error)) from None
    finally:
        store.close()
    if not quiet:
        err.print(f"exported {summary.records} records ({summary.corrected_records} corrected; "
                  f"{summary.corrections} corrections, {summary.acceptances} acceptances in the log) → "
                  + ", ".join(str(path) for path in summary.files), highlight=False)
        if summary.truncated_cells:
            err.print(f"[yellow]warning:[/] {summary.truncated_cells} cells longer than Excel allows were cut "
                      "(the jsonl export keeps them whole)", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(review)
    app.command()(export)
