"""``jixiao check``: re-verify records (e.g. after a person edited them) and print what does not hold.

Flags are printed grouped by record, one line each (``--json`` for machines). The
exit code is 1 when error-severity flags remain, 2 when the input cannot be read,
0 otherwise. Gold files (``GoldRecord`` lines) are accepted too: their
``uncertain``/``gold_notes`` keys are set aside.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from extract.doccheck import (
    DOCUMENT_RULES,
    DocumentReport,
    apply_duplicate_flags,
    document_report,
)
from extract.jsonl import JsonLinesError, describe_validation, iter_objects
from extract.load import LoadError, load
from extract.names import (
    KnownNames,
    KnownNamesError,
    canonicalise_names,
    harvest_known_names,
    load_known_names,
)
from extract.verify import RULES, apply_verification
from schemas.record import Flag, Record

GOLD_ONLY_KEYS = ("uncertain", "gold_notes")


class CheckInputError(ValueError):
    """Records that cannot be read; the message is one line for the user."""


@dataclass
class CheckResult:
    records: list[Record]
    documents: list[DocumentReport] = field(default_factory=list)
    skipped_error_entries: int = 0

    @property
    def has_errors(self) -> bool:
        return any(flag.severity == "error" for flag in self.all_flags())

    def all_flags(self) -> Iterable[Flag]:
        for record in self.records:
            yield from record.flags
        for report in self.documents:
            yield from report.flags


def read_records(path: Path) -> tuple[list[Record], int]:
    """The records of a JSON Lines file, and how many error entries (``"kind": "error"``) it held."""
    records: list[Record] = []
    skipped = 0
    try:
        for number, data in iter_objects(path):
            if data.get("kind") == "error":
                skipped += 1
                continue
            for key in GOLD_ONLY_KEYS:
                data.pop(key, None)
            try:
                records.append(Record.model_validate(data))
            except ValidationError as error:
                raise CheckInputError(f"{path}:{number}: not a record: {describe_validation(error)}") from None
    except JsonLinesError as error:
        raise CheckInputError(str(error)) from None
    if not records and not skipped:
        raise CheckInputError(f"{path}: no records in the file")
    return records, skipped


def check_records(records: list[Record], *, known: KnownNames | None = None,
                  docs_dir: Path | None = None) -> CheckResult:
    """Names (if known names are given or documents found), rules, duplicates and document checks."""
    document_lines: dict[str, list[str]] = {}
    if docs_dir is not None:
        for doc in dict.fromkeys(record.source.doc for record in records):
            candidate = docs_dir / doc
            if candidate.is_file():
                document_lines[doc] = load(candidate).lines
    checked: list[Record] = []
    harvested: dict[str, KnownNames] = {doc: harvest_known_names(lines) for doc, lines in document_lines.items()}
    for record in records:
        names = harvested.get(record.source.doc)
        combined = names.merged(known) if names is not None and known is not None else names or known
        if combined is not None:
            record = canonicalise_names(record, combined)
        checked.append(apply_verification(record))
    checked = apply_duplicate_flags(checked)
    reports = [document_report(lines, [r for r in checked if r.source.doc == doc], doc)
               for doc, lines in document_lines.items()]
    return CheckResult(checked, reports)


def _label(record: Record) -> str:
    source = record.source
    return f"{source.doc}:{source.start_line}-{source.end_line}  {record.project_name or '(no project name)'}"


def format_text(result: CheckResult) -> str:
    lines: list[str] = []
    for record in result.records:
        if not record.flags:
            continue
        errors = sum(flag.severity == "error" for flag in record.flags)
        lines.append(f"{_label(record)}  ({errors} error(s), {len(record.flags) - errors} warning(s))")
        for flag in record.flags:
            fields = ", ".join(flag.fields) if flag.fields else "-"
            lines.append(f"  {flag.severity:<7} {flag.rule:<28} {fields}: {flag.message}")
    for report in result.documents:
        for flag in report.flags:
            lines.append(f"{report.doc} (document)  {flag.severity:<7} {flag.rule:<28} {flag.message}")
    with_errors = sum(any(f.severity == "error" for f in r.flags) for r in result.records)
    with_flags = sum(bool(r.flags) for r in result.records)
    summary = (f"{len(result.records)} records: {with_errors} with errors, {with_flags - with_errors} with "
               f"warnings only, {len(result.records) - with_flags} without flags")
    if result.documents:
        summary += f"; {sum(len(r.flags) for r in result.documents)} document flag(s)"
    if result.skipped_error_entries:
        summary += f"; {result.skipped_error_entries} error entr(ies) skipped"
    lines.append(summary)
    return "\n".join(lines)


def format_json(result: CheckResult) -> str:
    payload: dict[str, Any] = {
        "records": [{"doc": r.source.doc, "start_line": r.source.start_line, "end_line": r.source.end_line,
                     "project_name": r.project_name,
                     "flags": [flag.model_dump(mode="json") for flag in r.flags]} for r in result.records],
        "documents": [{"doc": report.doc, "tables": report.tables, "truncated": report.truncated,
                       "statement": None if report.statement is None else {
                           "line": report.statement.line, "count": report.statement.count,
                           "funds": None if report.statement.funds is None else float(report.statement.funds),
                           "grades": report.statement.grades},
                       "flags": [flag.model_dump(mode="json") for flag in report.flags]}
                      for report in result.documents],
        "errors": sum(flag.severity == "error" for flag in result.all_flags()),
        "warnings": sum(flag.severity == "warning" for flag in result.all_flags()),
        "skipped_error_entries": result.skipped_error_entries,
    }
    return json.dumps(payload, ensure_ascii=False, indent=2)


def format_rules() -> str:
    lines = [f"{r.id:<30} {r.severity:<7} {r.en}\n{'':<38} {r.zh}" for r in RULES.values()]
    lines += [f"{rule_id:<30} {'doc':<7} {en}\n{'':<38} {zh}" for rule_id, (zh, en) in DOCUMENT_RULES.items()]
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command()
    def check(
        records: Annotated[Path | None, typer.Argument(help="Records as JSON Lines (jixiao extract output, "
                                                             "or a gold file).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the flags as JSON.")] = False,
        known_names: Annotated[Path | None, typer.Option(
            "--known-names", help="Known unit/department names: one a line, or CSV name,code.")] = None,
        docs: Annotated[Path | None, typer.Option(
            "--docs", help="Folder of the source documents: adds their names and the document-level checks.")] = None,
        rules: Annotated[bool, typer.Option("--rules", help="List the rules and exit.")] = False,
    ) -> None:
        """Re-verify records and print the flags, grouped by record; exit 1 if errors remain."""
        if rules:
            typer.echo(format_rules())
            return
        if records is None:
            typer.echo("error: give a records file (JSON Lines), or --rules", err=True)
            raise typer.Exit(2)
        if docs is not None and not docs.is_dir():
            typer.echo(f"error: {docs}: not a folder", err=True)
            raise typer.Exit(2)
        try:
            loaded, skipped = read_records(records)
            known = load_known_names(known_names) if known_names is not None else None
            result = check_records(loaded, known=known, docs_dir=docs)
        except (CheckInputError, KnownNamesError, LoadError) as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(2) from None
        result.skipped_error_entries = skipped
        typer.echo(format_json(result) if as_json else format_text(result))
        if result.has_errors:
            raise typer.Exit(1)
