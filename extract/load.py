"""Stage 1, load: bytes on disk to a ``Document`` of text lines.

Disclosures arrive from many tools: UTF-8 with or without BOM, GB18030/GBK from
older Windows exports, UTF-16 from Office. Anything that is not text (a PDF, a
zip, an image) or is empty is rejected with a one-line ``LoadError`` naming the
file, so that a batch can report it and go on.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from pathlib import Path

MAX_BYTES = 64 * 1024 * 1024
"""Larger inputs are refused: a disclosure's OCR text is a few hundred kilobytes."""


class LoadError(Exception):
    """A file that cannot be read as text; the message is one line for the user."""


@dataclass(frozen=True)
class Document:
    """The input text as lines (1-based line numbers are ``index + 1``)."""

    name: str
    lines: list[str]
    encoding: str = "utf-8"
    warnings: list[str] = field(default_factory=list)

    def line(self, number: int) -> str:
        return self.lines[number - 1]


def load(path: str | Path, max_bytes: int = MAX_BYTES) -> Document:
    """Read one file into a Document, or raise LoadError with a one-line reason."""
    file_path = Path(path)
    try:
        size = file_path.stat().st_size
        if size > max_bytes:
            raise LoadError(f"{file_path}: file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit "
                            "for one document; split it into smaller files")
        data = file_path.read_bytes()
    except LoadError:
        raise
    except IsADirectoryError:
        raise LoadError(f"{file_path}: is a directory, not a text file") from None
    except FileNotFoundError:
        raise LoadError(f"{file_path}: no such file") from None
    except OSError as error:
        raise LoadError(f"{file_path}: cannot be read ({error.strerror or error})") from None
    return load_bytes(data, file_path.name)


def load_text(text: str, name: str) -> Document:
    """Wrap text already in memory (tests, the noise generator, stdin)."""
    if not text.strip():
        raise LoadError(f"{name}: the document is empty")
    return Document(name=name, lines=_split_lines(text))


def load_bytes(data: bytes, name: str) -> Document:
    """Decode raw bytes, telling text from binary and guessing the encoding."""
    if not data.strip():
        raise LoadError(f"{name}: the file is empty")
    text, encoding, warnings = _decode(data, name)
    if not text.strip():
        raise LoadError(f"{name}: the file holds no text")
    return Document(name=name, lines=_split_lines(text), encoding=encoding, warnings=warnings)


def _split_lines(text: str) -> list[str]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [html_cells_to_tabs(line) if "<t" in line else line for line in lines]


_CELL_BOUNDARY = re.compile(r"</t[dh]>\s*(?:</tr>\s*<tr[^>]*>\s*)?<t[dh][^>]*>", re.IGNORECASE)
_TABLE_TAG = re.compile(r"</?(?:table|tbody|thead|tr|td|th)(?:\s[^>]*)?>", re.IGNORECASE)


def html_cells_to_tabs(line: str) -> str:
    """A table row some OCR engines emit as HTML (``<tr><td>项目名称</td><td>…</td></tr>``): its
    cells become tab-separated like the rest of the text, on the same line (line numbers stay)."""
    if not re.search(r"<t[dhr][\s>]", line, re.IGNORECASE):
        return line
    return _TABLE_TAG.sub("", _CELL_BOUNDARY.sub("\t", line))


def _decode(data: bytes, name: str) -> tuple[str, str, list[str]]:
    if data.startswith(codecs.BOM_UTF8):
        return _strict_or_truncated(data[3:], "utf-8", name, "utf-8-sig")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return _strict_or_truncated(data, "utf-16", name, "utf-16")
    if _looks_like_utf16_without_bom(data):
        codec = "utf-16-le" if data[1:200:2].count(0) > data[0:200:2].count(0) else "utf-16-be"
        return _strict_or_truncated(data, codec, name, codec)
    if b"\x00" in data[:8000]:
        guessed = _utf16_guess(data)
        if guessed is not None:
            return guessed, guessed_codec(data), []
    if _looks_binary(data):
        raise LoadError(f"{name}: looks like a binary file, not OCR text; "
                        "convert it to text first (jixiao reads .txt output of an OCR tool)")
    try:
        return data.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError as error:
        if error.start >= len(data) - 3 and error.reason in ("unexpected end of data", "invalid continuation byte"):
            return (data[: error.start].decode("utf-8"), "utf-8",
                    [f"{name}: the file ends in the middle of a character (truncated?); the last bytes were dropped"])
    try:
        text = data.decode("gb18030")
    except UnicodeDecodeError as error:
        text = None
        if error.start >= len(data) - 2:
            head = data[: error.start].decode("gb18030", errors="strict") if _decodes(data[: error.start]) else None
            if head is not None and _mostly_readable(head) and _mostly_han_or_ascii(head):
                return head, "gb18030", [f"{name}: the file ends in the middle of a character (truncated?); "
                                         "the last bytes were dropped"]
    if text is not None and _mostly_readable(text):
        return text, "gb18030", []
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is not None and _mostly_readable(str(best)):
        return str(best), best.encoding, [f"{name}: encoding guessed as {best.encoding}"]
    raise LoadError(f"{name}: cannot tell the text encoding (not UTF-8, UTF-16 or GB18030); "
                    "re-save the file as UTF-8")


def _strict_or_truncated(data: bytes, codec: str, name: str, label: str) -> tuple[str, str, list[str]]:
    try:
        return data.decode(codec), label, []
    except UnicodeDecodeError as error:
        if error.start >= len(data) - 3:
            return (data[: error.start].decode(codec), label,
                    [f"{name}: the file ends in the middle of a character (truncated?); the last bytes were dropped"])
        raise LoadError(f"{name}: invalid {label} text at byte {error.start}; re-save the file as UTF-8") from None


def _decodes(data: bytes, codec: str = "gb18030") -> bool:
    try:
        data.decode(codec)
        return True
    except UnicodeDecodeError:
        return False


def guessed_codec(data: bytes) -> str:
    return "utf-16-le" if _utf16_score(data, "utf-16-le") >= _utf16_score(data, "utf-16-be") else "utf-16-be"


def _utf16_score(data: bytes, codec: str) -> float:
    sample = data[: len(data) - len(data) % 2][:8000]
    try:
        text = sample.decode(codec)
    except UnicodeDecodeError:
        return 0.0
    return _han_or_ascii_share(text)


def _utf16_guess(data: bytes) -> str | None:
    """UTF-16 without a BOM: Chinese text has few zero bytes, so judge by what it decodes to."""
    codec = guessed_codec(data)
    if _utf16_score(data, codec) < 0.9:
        return None
    try:
        return data[: len(data) - len(data) % 2].decode(codec)
    except UnicodeDecodeError:
        return None


def _han_or_ascii_share(text: str) -> float:
    if not text:
        return 0.0
    good = sum(1 for char in text if char.isascii() and (char.isprintable() or char in "\t\n\r")
               or "\u3000" <= char <= "\u9fff" or "\uff00" <= char <= "\uffef")
    return good / len(text)


def _mostly_han_or_ascii(text: str) -> bool:
    return _han_or_ascii_share(text[:20000]) >= 0.9


def _looks_like_utf16_without_bom(data: bytes) -> bool:
    sample = data[:4000]
    if len(sample) < 4:
        return False
    even_zeros = sample[0::2].count(0)
    odd_zeros = sample[1::2].count(0)
    half = len(sample) / 2
    return max(even_zeros, odd_zeros) > 0.3 * half and min(even_zeros, odd_zeros) < 0.05 * half


def _looks_binary(data: bytes) -> bool:
    sample = data[:8000]
    if b"\x00" in sample:
        return True
    control = sum(1 for byte in sample if byte < 32 and byte not in (9, 10, 12, 13, 27))
    return control > 0.02 * len(sample)


def _mostly_readable(text: str) -> bool:
    sample = text[:20000]
    if not sample:
        return False
    bad = sum(1 for char in sample if char == "\ufffd" or (ord(char) < 32 and char not in "\t\n\r\f"))
    return bad < 0.01 * len(sample)
