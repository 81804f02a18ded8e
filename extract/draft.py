"""A record under construction: values with their evidence and the extractor's doubts.

Evidence is collected where a value is read (the cell knows its line), never
reconstructed later; every doubt becomes a flag naming the field by path.
"""

from __future__ import annotations

from typing import Any

from extract import __version__
from extract.clean import Cell, Grid
from schemas.paths import set_path
from schemas.record import Evidence, ExtractorInfo, Flag, FundLine, Record, Source

EXTRACTOR_RULE_PREFIX = "extract-"
"""Flags the extractor raises carry this prefix; the verifier's rule flags never do."""


class Draft:
    def __init__(self, grid: Grid, backend: str = "rules") -> None:
        self.grid = grid
        self.form: str | None = None
        """The printed form where a template has several (``other``: "department-overall")."""
        self.record = Record(
            source=Source(doc=grid.doc, start_line=grid.start_line, end_line=grid.end_line),
            template=grid.template,  # type: ignore[arg-type]
            title=grid.title,
            extractor=ExtractorInfo(backend=backend, version=__version__),  # type: ignore[arg-type]
        )

    def has(self, path: str) -> bool:
        from schemas.paths import PathError, get_path

        try:
            return get_path(self.record, path) is not None
        except PathError:
            return False

    def put(self, path: str, value: Any, cell: Cell | None = None, *, text: str | None = None) -> None:
        """Set a field and remember the cell it came from."""
        if value is None or value == "":
            return
        if path.startswith("funds.") and path.count(".") == 2:
            line_name = path.split(".")[1]
            if getattr(self.record.funds, line_name) is None:
                setattr(self.record.funds, line_name, FundLine())
        set_path(self.record, path, value)
        if cell is not None:
            self.cite(path, cell, text)

    def cite(self, path: str, cell: Cell, text: str | None = None) -> None:
        evidence_text = text if text is not None else cell.text
        self.record.evidence[path] = Evidence(line=cell.line, text=evidence_text[:300])

    def doubt(self, fields: list[str] | str, message: str, *, kind: str = "uncertain",
              severity: str = "warning", **values: Any) -> None:
        """Flag fields the extractor could not read with confidence."""
        names = [fields] if isinstance(fields, str) else list(fields)
        rule = f"{EXTRACTOR_RULE_PREFIX}{kind}"
        for flag in self.record.flags:
            if flag.rule == rule and flag.fields == names and flag.message == message:
                return
        self.record.flags.append(Flag(rule=rule, severity=severity, fields=names,  # type: ignore[arg-type]
                                      message=message, values={k: v for k, v in values.items() if v is not None}))

    def finish(self) -> Record:
        """The record; every assignment was validated as it was made (``validate_assignment``)."""
        return self.record
