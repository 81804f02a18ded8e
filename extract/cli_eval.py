"""``jixiao eval``: score predictions (or a fresh extraction) against the gold set.

Forms:
- ``jixiao eval --gold DIR --pred FILE``: score an extractor's JSONL output;
- ``jixiao eval --gold DIR --docs DIR_OR_FILE [--docs …] [--backend rules]``: extract, then score;
- ``jixiao eval --gold DIR --docs DIR --noise 0,0.05,0.1,0.2 [--seed N]``: damage the documents
  at each rate (``extract.noise``), extract and score each; the main report is the lowest rate.

Output: a rich terminal report, ``--json`` for machines (stdout), ``--html FILE`` for a page.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from extract.evaluate import (
    DEFAULT_TOP_ERRORS,
    EvalInputError,
    EvalReport,
    GroupScore,
    load_gold,
    load_predictions,
    score,
)
from schemas.record import ErrorEntry, Record

DOC_SUFFIXES = (".txt",)


class _UsageError(Exception):
    """A one-line problem with the command's input."""


def register(app: typer.Typer) -> None:
    """Add the ``eval`` command to the jixiao app."""
    app.command("eval", help="Score extracted records against the gold set (accuracy, silent error rate, noise).")(
        eval_command
    )


def eval_command(
    gold: Annotated[Path, typer.Option("--gold", help="Gold directory (every *.jsonl) or one gold JSONL file.")],
    pred: Annotated[Path | None, typer.Option("--pred", help="Extractor output (JSONL) to score.")] = None,
    docs: Annotated[
        list[Path] | None, typer.Option("--docs", help="Documents to extract and score: a directory (*.txt) or files; repeatable.")
    ] = None,
    backend: Annotated[str, typer.Option("--backend", help="Extraction backend for --docs.")] = "rules",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    html: Annotated[Path | None, typer.Option("--html", help="Also write a self-contained HTML report here.")] = None,
    noise: Annotated[
        str | None, typer.Option("--noise", help="Comma-separated noise rates in 0…1, e.g. 0,0.05,0.1,0.2 (needs --docs).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the noise generator.")] = 0,
    leave_one_out: Annotated[
        bool,
        typer.Option("--leave-one-out", help="Also extract each document with the vocabulary variants only it prints "
                     "hidden, and report those figures beside the all-seen ones (needs --docs)."),
    ] = False,
    prior: Annotated[
        Path, typer.Option("--prior", help="Text known before any document (its variants are never hidden).")
    ] = Path("docs/record-format.md"),
    top: Annotated[int, typer.Option("--top", min=0, help="How many of the worst errors to list.")] = DEFAULT_TOP_ERRORS,
) -> None:
    try:
        report = build_report(gold=gold, pred=pred, docs=docs or [], backend=backend, noise=noise, seed=seed, top=top,
                              leave_one_out=prior if leave_one_out else None)
    except (_UsageError, EvalInputError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    if html is not None:
        from extract.report_html import render_html

        try:
            html.write_text(render_html(report), encoding="utf-8")
        except OSError as error:
            typer.echo(f"error: cannot write {html}: {error.strerror or error}", err=True)
            raise typer.Exit(code=2) from None
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        render_terminal(report, Console())
    if html is not None:
        typer.echo(f"HTML report written to {html}", err=as_json)


# --------------------------------------------------------------------------------------
# building the report


def parse_rates(text: str) -> list[float]:
    rates: list[float] = []
    for part in text.split(","):
        try:
            rate = float(part.strip())
        except ValueError:
            raise _UsageError(f"--noise: {part.strip()!r} is not a number") from None
        if not 0.0 <= rate <= 1.0:
            raise _UsageError(f"--noise: rate {rate:g} is outside 0…1")
        rates.append(rate)
    return sorted(set(rates))


def document_paths(locations: Sequence[Path]) -> list[Path]:
    """The document files named by ``--docs``: directories give their ``*.txt`` files."""
    paths: list[Path] = []
    for location in locations:
        if location.is_dir():
            found = sorted(path for path in location.iterdir() if path.is_file() and path.suffix in DOC_SUFFIXES)
            if not found:
                raise _UsageError(f"{location}: no documents (*.txt)")
            paths.extend(found)
        elif location.is_file():
            paths.append(location)
        else:
            raise _UsageError(f"{location}: no such file or directory")
    return paths


def _split(items: Sequence[Record | ErrorEntry]) -> tuple[list[Record], list[ErrorEntry]]:
    records = [item for item in items if isinstance(item, Record)]
    errors = [item for item in items if isinstance(item, ErrorEntry)]
    return records, errors


def _pipeline(name: str) -> Callable[..., Any]:
    """A function of ``extract.pipeline``, imported only when extraction is asked for."""
    try:
        from extract import pipeline
    except ImportError as error:
        raise _UsageError(f"the extraction pipeline is not available ({error})") from None
    function = getattr(pipeline, name, None)
    if function is None:
        raise _UsageError(f"extract.pipeline has no {name}()")
    return function


def _run_extraction(call: Callable[[], Sequence[Record | ErrorEntry]]) -> Sequence[Record | ErrorEntry]:
    try:
        return call()
    except Exception as error:  # noqa: BLE001 - another module's failure: one line, never a traceback
        raise _UsageError(f"extraction failed: {error.__class__.__name__}: {error}") from None


def build_report(
    *, gold: Path, pred: Path | None, docs: Sequence[Path], backend: str, noise: str | None, seed: int, top: int,
    leave_one_out: Path | None = None,
) -> EvalReport:
    if pred is not None and docs:
        raise _UsageError("give either --pred or --docs, not both")
    if pred is None and not docs:
        raise _UsageError("give --pred FILE (extractor output) or --docs DIR (documents to extract)")
    if noise is not None and not docs:
        raise _UsageError("--noise needs --docs (the clean documents to damage)")
    if leave_one_out is not None and (not docs or noise is not None):
        raise _UsageError("--leave-one-out needs --docs and no --noise")
    gold_records = load_gold(gold)
    if pred is not None:
        records, errors = load_predictions(pred)
        return score(gold_records, records, extractor_errors=errors, top_errors=top)
    paths = document_paths(docs)
    names = {path.name for path in paths}
    gold_records = [record for record in gold_records if record.source.doc in names]
    if not gold_records:
        raise _UsageError("none of the --docs documents has gold records")
    if leave_one_out is not None:
        return _leave_one_out_report(paths, gold_records, backend=backend, prior_path=leave_one_out, top=top)
    if noise is None:
        extract_paths = _pipeline("extract_paths")
        records, errors = _split(_run_extraction(lambda: extract_paths(paths, backend=backend)))
        return score(gold_records, records, extractor_errors=errors, top_errors=top)

    from extract.noise import measure_noise_curve

    rates = parse_rates(noise)
    texts = _read_texts(paths)
    extract_text = _pipeline("extract_text")
    try:
        curve, reports = measure_noise_curve(
            texts,
            gold_records,
            rates,
            lambda text, doc: _run_extraction(lambda: extract_text(text, doc, backend=backend)),
            seed=seed,
            backend=backend,
            top_errors=top,
        )
    except ValueError as error:
        raise _UsageError(str(error)) from None
    main = reports[rates[0]]
    main.noise = curve
    return main


def _read_texts(paths: Sequence[Path]) -> dict[str, str]:
    texts: dict[str, str] = {}
    for path in paths:
        try:
            texts[path.name] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise _UsageError(f"{path}: cannot read as UTF-8 text ({error.__class__.__name__})") from None
    return texts


def _leave_one_out_report(paths: Sequence[Path], gold_records: list, *, backend: str, prior_path: Path,
                          top: int) -> EvalReport:
    """Both sides extracted one document at a time, so they differ only in the hidden variants."""
    from extract.evaluate import LeaveOneOut
    from extract.holdout import leave_one_out

    if backend != "rules":
        raise _UsageError("--leave-one-out measures the rules extractor (--backend rules)")
    try:
        prior = prior_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise _UsageError(f"--prior {prior_path}: cannot read ({error.__class__.__name__}); give the record-format "
                          "contract, e.g. --prior docs/record-format.md") from None
    texts = _read_texts(paths)
    extract_text = _pipeline("extract_text")

    def extract(text: str, doc: str) -> Sequence[Record | ErrorEntry]:
        return _run_extraction(lambda: extract_text(text, doc, backend=backend))

    seen_records, seen_errors = _split([item for doc, text in texts.items() for item in extract(text, doc)])
    report = score(gold_records, seen_records, extractor_errors=seen_errors, top_errors=top)
    held_out, hidden = leave_one_out(texts, gold_records, extract, prior=prior, top_errors=top)
    report.leave_one_out = LeaveOneOut(
        prior=str(prior_path), hidden_variants=hidden, detection=held_out.detection, fields=held_out.fields,
        by_template=held_out.by_template, by_doc=held_out.by_doc, errors=held_out.errors)
    return report


# --------------------------------------------------------------------------------------
# terminal output


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _clean(value: Any, limit: int = 60) -> Text:
    """Document text for the terminal: no markup, no control characters, cut to ``limit``."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = "".join("␣" if unicodedata.category(char) == "Cc" else char for char in text.replace("\n", "⏎"))
    return Text(text if len(text) <= limit else text[: limit - 1] + "…")


def _group_table(title: str, label: str, groups: Sequence[GroupScore], detection: bool = True) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(label, overflow="fold")
    if detection:
        for name in ("gold", "pred", "matched"):
            table.add_column(name, justify="right")
    for name in ("scored", "accuracy", "silent", "silent rate", "flagged", "F1"):
        table.add_column(name, justify="right")
    for group in groups:
        counts = (
            [str(group.detection.gold_tables), str(group.detection.pred_tables), str(group.detection.matched)]
            if detection
            else []
        )
        table.add_row(
            _clean(group.name),
            *counts,
            str(group.fields.scored),
            _percent(group.fields.accuracy),
            str(group.fields.silent),
            _percent(group.fields.silent_error_rate),
            _percent(group.fields.flagged_share),
            _percent(group.fields.f1),
        )
    return table


def _held_out_table(report: EvalReport) -> Table:
    """All-seen and held-out figures per document and per template, side by side."""
    held_out = report.leave_one_out
    assert held_out is not None
    table = Table(title="leave-one-out: all documents seen → document held out", title_justify="left")
    table.add_column("group", overflow="fold")
    for name in ("tables found", "F1", "accuracy", "silent rate", "flagged", "hidden variants"):
        table.add_column(name, justify="right")

    def pair(seen: float | None, held: float | None) -> str:
        return f"{_percent(seen)} → {_percent(held)}"

    seen_groups = {(kind, group.name): group for kind, groups in (("doc", report.by_doc), ("template", report.by_template))
                   for group in groups}
    rows = [("doc", group) for group in held_out.by_doc] + [("template", group) for group in held_out.by_template]
    rows.append(("all", None))
    for kind, held in rows:
        seen_fields, seen_detection = (report.fields, report.detection) if held is None else \
            (seen_groups[(kind, held.name)].fields, seen_groups[(kind, held.name)].detection)
        held_fields, held_detection = (held_out.fields, held_out.detection) if held is None else \
            (held.fields, held.detection)
        hidden = str(len(held_out.hidden_variants.get(held.name, []))) if kind == "doc" and held is not None else ""
        table.add_row(
            _clean("all documents" if held is None else held.name, 40),
            f"{seen_detection.matched}/{seen_detection.gold_tables} → {held_detection.matched}/{held_detection.gold_tables}",
            pair(seen_fields.f1, held_fields.f1),
            pair(seen_fields.accuracy, held_fields.accuracy),
            pair(seen_fields.silent_error_rate, held_fields.silent_error_rate),
            pair(seen_fields.flagged_share, held_fields.flagged_share),
            hidden,
        )
    return table


def render_terminal(report: EvalReport, console: Console) -> None:
    """The report as rich tables: the headline numbers first, then where the errors are."""
    fields, detection = report.fields, report.detection
    summary = Table(title="jixiao eval", title_justify="left", show_header=False)
    summary.add_column("measure")
    summary.add_column("value", justify="right")
    summary.add_column("counts")
    summary.add_row("silent error rate", _percent(fields.silent_error_rate), f"{fields.silent} silent of {fields.scored} scored fields")
    summary.add_row("field accuracy", _percent(fields.accuracy), f"{fields.correct} / {fields.scored}")
    summary.add_row("precision (non-null)", _percent(fields.precision), f"{fields.true_positive} / {fields.pred_non_null}")
    summary.add_row("recall (non-null)", _percent(fields.recall), f"{fields.true_positive} / {fields.gold_non_null}")
    summary.add_row("F1", _percent(fields.f1), "")
    summary.add_row("wrong but flagged", str(fields.flagged_wrong), f"flags on right fields: {fields.flagged_correct}")
    summary.add_row("table recall", _percent(detection.recall), f"{detection.matched} / {detection.gold_tables} gold tables")
    summary.add_row("table precision", _percent(detection.precision), f"{detection.matched} / {detection.pred_tables} predicted tables")
    summary.add_row("template right", _percent(detection.template_accuracy), f"{detection.template_correct} / {detection.matched} matched")
    alignment = report.alignment
    summary.add_row(
        "indicators aligned",
        str(alignment.aligned),
        f"of {alignment.gold_indicators} gold / {alignment.pred_indicators} predicted (matched tables)",
    )
    summary.add_row("uncertain skipped", str(report.uncertain_skipped), "gold paths not scored")
    console.print(summary)

    if report.noise is not None:
        noise = Table(title=f"noise robustness (seed {report.noise.seed}, backend {report.noise.backend})", title_justify="left")
        for name in ("rate", "accuracy", "silent rate", "F1", "table recall", "scored", "damaged sites"):
            noise.add_column(name, justify="right")
        for point in report.noise.points:
            damage = str(sum(point.damages.values()))
            noise.add_row(
                f"{point.rate:g}",
                _percent(point.accuracy),
                _percent(point.silent_error_rate),
                _percent(point.f1),
                _percent(point.detection_recall),
                str(point.scored),
                Text(damage),
            )
        console.print(noise)

    console.print(_group_table("by template", "template", report.by_template))
    console.print(_group_table("by document", "document", report.by_doc))
    if report.leave_one_out is not None:
        console.print(_held_out_table(report))

    texts = Table(title="texts (similarity, matched tables)", title_justify="left")
    for name in ("field", "compared", "mean similarity", f"≥ {report.settings.text_match_threshold}"):
        texts.add_column(name, justify="left" if name == "field" else "right")
    for text in report.texts:
        texts.add_row(text.field, str(text.compared), _percent(text.mean_similarity), str(text.at_threshold))
    console.print(texts)

    wrong_fields = sorted(
        (group for group in report.by_field if group.fields.wrong),
        key=lambda group: (-group.fields.silent, -group.fields.wrong, group.name),
    )
    console.print(_group_table("fields with errors", "field", wrong_fields, detection=False))

    errors = Table(title=f"worst errors ({len(report.errors)} of {report.errors_total})", title_justify="left")
    for name in ("document", "line", "field", "gold", "predicted", ""):
        errors.add_column(name, justify="right" if name == "line" else "left")
    for error in report.errors:
        errors.add_row(
            _clean(error.doc, 32),
            str(error.line),
            _clean(error.path if error.kind == "compared" else f"{error.path} ({error.kind})", 48),
            _clean(error.gold),
            _clean(error.pred),
            Text("flagged", style="yellow") if error.flagged else Text("silent", style="bold red"),
        )
    console.print(errors)

    for title, tables in (("missing tables (all fields silent errors)", report.missing_tables), ("extra tables", report.extra_tables)):
        if not tables:
            continue
        listing = Table(title=title, title_justify="left")
        for name in ("document", "lines", "template", "title"):
            listing.add_column(name)
        for table in tables:
            listing.add_row(_clean(table.doc, 32), f"{table.start_line}–{table.end_line}", table.template, _clean(table.title, 48))
        console.print(listing)
    if report.extractor_errors:
        console.print(Text(f"extractor errors: {len(report.extractor_errors)}"))
        for entry in report.extractor_errors[:10]:
            console.print(Text(f"  {entry.doc}:{entry.start_line or ''} [{entry.stage}] {entry.message}"[:200]))
    if report.ignored_pred_docs:
        console.print(Text(f"ignored (no gold): {', '.join(report.ignored_pred_docs)}"))
    console.print(Text(report.normalisation, style="dim"))


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``eval`` on its own (``python -m extract.cli_eval``) until the lead wires it into extract/cli.py."""
    app = typer.Typer(add_completion=False)

    @app.callback()
    def _root() -> None:
        """jixiao"""

    register(app)
    app(args=list(argv) if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
