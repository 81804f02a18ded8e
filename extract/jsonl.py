"""Reading JSON Lines files of records (extractor output, gold sets), with one-line errors.

``check``, ``eval`` and the review tools all read the same files; a bad line is reported
with its file and line number, never as a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError


class JsonLinesError(ValueError):
    """A JSON Lines file that cannot be read; the message is one line naming file and line."""


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise JsonLinesError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise JsonLinesError(f"{path}: is a directory, not a JSON Lines file") from None
    except UnicodeDecodeError:
        raise JsonLinesError(f"{path}: not UTF-8 text") from None
    except OSError as error:
        raise JsonLinesError(f"{path}: cannot be read ({error.strerror or error})") from None


def iter_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for every non-blank line of the file."""
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            raise JsonLinesError(f"{path}:{number}: not valid JSON ({error.msg} at column {error.colno})") from None
        if not isinstance(data, dict):
            raise JsonLinesError(f"{path}:{number}: expected a JSON object, got {type(data).__name__}")
        yield number, data


def describe_validation(error: ValidationError) -> str:
    """The first problem of a validation error, in one line."""
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "record"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{location}: {first['msg']}{more}"
