"""Answers on disk, so that a rerun over the same tables makes no LLM call at all.

The key is a hash of everything that decides the answer: the model, the prompt's
version and template digest, the response schema's fingerprint, the rendered table
text and which checks the answer had to pass (an answer re-asked about every field is
not the answer re-asked only about the hybrid's doubted fields). One JSON file per key
(``<dir>/ab/abcdef….json``), written atomically; a file that cannot be read is treated
as a miss, never as an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
CACHE_FORMAT = 1


def cache_key(*, model: str, prompt_version: str, template_digest: str, schema: str, table_text: str,
              checks: str = "all") -> str:
    """``checks`` names the validation the answer passed ("all", "none", or the hybrid's field focus)."""
    material = json.dumps({"format": CACHE_FORMAT, "model": model, "prompt": prompt_version,
                           "template": template_digest, "schema": schema, "table": table_text, "checks": checks},
                          ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class AnswerCache:
    """A directory of cached answers; ``get`` returns the stored entry or None."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory).expanduser()
        self.hits = 0
        self.misses = 0

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.misses += 1
            return None
        except (OSError, ValueError) as error:
            log.warning("ignoring unreadable cache entry %s: %s", path, error)
            self.misses += 1
            return None
        if not isinstance(entry, dict) or entry.get("format") != CACHE_FORMAT or "answer" not in entry:
            self.misses += 1
            return None
        self.hits += 1
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> None:
        """Store an entry; a cache that cannot be written is logged and skipped, never fatal."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False,
                                             suffix=".tmp") as handle:
                json.dump({"format": CACHE_FORMAT, **entry}, handle, ensure_ascii=False)
                temporary = handle.name
            os.replace(temporary, path)
        except OSError as error:
            log.warning("cannot write cache entry %s: %s", path, error)
