"""Field paths of the record format: ``funds.executed.total``, ``indicators[3].actual``.

Flags, evidence, corrections, the review page and the scorer all name fields this
way, so the parsing and walking of paths lives in one place.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

_STEP = re.compile(r"([A-Za-z_][A-Za-z_0-9]*)|\[(\d+)\]")

META_KEYS = frozenset({"evidence", "flags", "extractor", "corrections", "uncertain", "gold_notes"})


class PathError(ValueError):
    """A field path that does not name a field of the record."""


def parse_path(path: str) -> list[str | int]:
    """Split ``indicators[3].actual`` into ``["indicators", 3, "actual"]``."""
    return list(_parse_path(path))


@lru_cache(maxsize=50_000)
def _parse_path(path: str) -> tuple[str | int, ...]:
    steps: list[str | int] = []
    for part in path.split("."):
        if not part:
            raise PathError(f"empty step in field path {path!r}")
        consumed = 0
        for match in _STEP.finditer(part):
            if match.start() != consumed:
                raise PathError(f"cannot read field path {path!r}")
            consumed = match.end()
            steps.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        if consumed != len(part):
            raise PathError(f"cannot read field path {path!r}")
    return tuple(steps)


def format_path(steps: list[str | int]) -> str:
    out = ""
    for step in steps:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += f".{step}" if out else step
    return out


def get_path(obj: Any, path: str) -> Any:
    """Read a value by path from a model or from plain dicts and lists."""
    current = obj
    for step in parse_path(path):
        if isinstance(step, int):
            if not isinstance(current, list) or step >= len(current):
                raise PathError(f"{path!r}: index {step} out of range")
            current = current[step]
        elif isinstance(current, BaseModel):
            if step not in type(current).model_fields:
                raise PathError(f"{path!r}: no field {step!r}")
            current = getattr(current, step)
        elif isinstance(current, dict):
            if step not in current:
                raise PathError(f"{path!r}: no field {step!r}")
            current = current[step]
        else:
            raise PathError(f"{path!r}: {step!r} is below a leaf value")
    return current


def read_dotted(data: Any, path: str) -> Any:
    """A value of a JSON dump by dotted path (no indexes); a missing or null parent reads as null."""
    current = data
    for step in path.split("."):
        if not isinstance(current, dict):
            return None
        current = current.get(step)
    return current


def set_path(obj: BaseModel | dict, path: str, value: Any) -> None:
    """Write a value by path; models validate the assignment."""
    steps = parse_path(path)
    parent = get_path(obj, format_path(steps[:-1])) if len(steps) > 1 else obj
    last = steps[-1]
    if isinstance(last, int):
        if not isinstance(parent, list) or last >= len(parent):
            raise PathError(f"{path!r}: index {last} out of range")
        parent[last] = value
    elif isinstance(parent, BaseModel):
        if last not in type(parent).model_fields:
            raise PathError(f"{path!r}: no field {last!r}")
        setattr(parent, last, value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise PathError(f"{path!r}: parent is a leaf value")


def iter_leaves(data: Any, prefix: str = "", skip: frozenset[str] = META_KEYS) -> Iterator[tuple[str, Any]]:
    """Yield ``(path, value)`` for every leaf of a record dump (dicts and lists)."""
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    if isinstance(data, dict):
        for key, value in data.items():
            if not prefix and key in skip:
                continue
            child = f"{prefix}.{key}" if prefix else key
            if isinstance(value, (dict, list)) and value:
                yield from iter_leaves(value, child, skip)
            elif isinstance(value, dict):
                yield child, None
            else:
                yield child, value
    elif isinstance(data, list):
        for index, value in enumerate(data):
            child = f"{prefix}[{index}]"
            if isinstance(value, (dict, list)):
                yield from iter_leaves(value, child, skip)
            else:
                yield child, value
