"""Stage: match printed names against the vocabularies kept as data in ``schemas/vocab``.

Labels, indicator categories and units reach us with OCR damage (spaces inside
words, lost characters, variant glyphs) and with the form's own variants
(填表日期 for 填报日期). Every such name goes through one fuzzy matcher
(rapidfuzz) so the threshold and the normalisation are the same everywhere,
and a weak match can be reported as a flag rather than silently accepted.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from rapidfuzz import fuzz, process

_WEIGHT = re.compile(r"[(（]\s*[\dA-Za-z]+\s*分?\s*[)）]|\d+\s*分")
_NOISE = re.compile(r"[\s:：;；,，。.、_\-—/]+")

_BRACKETED_NOTE = re.compile(r"[(（][^()（）\d]{1,6}[)）]")
"""A label's own bracketed note ("(进度)", "（万元）"), never its value."""

STRONG = 90.0
"""A match at or above this score is taken without a flag."""
WEAK = 75.0
"""A match between WEAK and STRONG is taken and flagged; below WEAK it is no match."""


@dataclass(frozen=True)
class Match:
    canonical: str
    score: float
    variant: str
    remainder: str = ""
    by_wording: bool = False
    """Named by a wording pattern (``_signatures``), not by a known variant."""

    @property
    def weak(self) -> bool:
        return self.score < STRONG


@lru_cache(maxsize=200_000)
def normalise(text: str) -> str:
    """The comparable form of a label: NFKC, no spaces or punctuation."""
    return _NOISE.sub("", unicodedata.normalize("NFKC", text))


_HIDDEN: dict[str, frozenset[str]] = {}
"""Normalised variants hidden per vocabulary file (leave-one-out measurement); empty in normal use."""


@lru_cache(maxsize=None)
def vocabulary(name: str) -> dict:
    """A vocabulary file from ``schemas/vocab`` (``labels``, ``categories``)."""
    text = resources.files("schemas").joinpath("vocab", f"{name}.json").read_text(encoding="utf-8")
    data = json.loads(text)
    hidden = _HIDDEN.get(name)
    return _without(data, hidden) if hidden else data


def _without(table: dict, hidden: frozenset[str]) -> dict:
    return {key: _without(value, hidden) if isinstance(value, dict) else
            [variant for variant in value if normalise(variant) not in hidden] if isinstance(value, list) else value
            for key, value in table.items()}


def hide_variants(hidden: dict[str, set[str]]) -> None:
    """Match as if the vocabularies lacked these variants (``{"labels": {normalised, …}}``).

    Leave-one-out evaluation uses it to take away what one document taught the
    vocabulary; ``hide_variants({})`` restores the full vocabularies. Every memo
    derived from the vocabularies is dropped here or by ``pipeline.clear_caches``."""
    _HIDDEN.clear()
    _HIDDEN.update({name: frozenset(variants) for name, variants in hidden.items() if variants})
    for memo in (vocabulary, _variant_index, _prefix_index, match_in, match_label, _signatures):
        memo.cache_clear()


@lru_cache(maxsize=None)
def _variant_index(vocab_key: tuple[str, ...]) -> tuple[dict[str, str], list[str]]:
    table = vocabulary(vocab_key[0])
    for key in vocab_key[1:]:
        table = table[key]
    index: dict[str, str] = {}
    for canonical, variants in table.items():
        if canonical.startswith("_"):
            continue
        for variant in [canonical, *variants]:
            index.setdefault(normalise(variant), canonical)
    choices = sorted(index, key=len, reverse=True)
    return index, choices


@lru_cache(maxsize=None)
def _prefix_index(vocab_key: tuple[str, ...]) -> dict[str, list[str]]:
    """Variants by their first two characters, longest first, for the fused "label value" check."""
    _, choices = _variant_index(vocab_key)
    by_start: dict[str, list[str]] = {}
    for choice in choices:
        if len(choice) >= 2:
            by_start.setdefault(choice[:2], []).append(choice)
    return by_start


@lru_cache(maxsize=100_000)
def match_in(text: str, vocab_key: tuple[str, ...], *, threshold: float = WEAK,
             allow_prefix: bool = True) -> Match | None:
    """Match ``text`` against one vocabulary table (path of keys into a vocab file)."""
    key = normalise(text)
    if not key:
        return None
    index, choices = _variant_index(vocab_key)
    if key in index:
        return Match(index[key], 100.0, key)
    if allow_prefix:
        for choice in _prefix_index(vocab_key).get(key[:2], ()):
            if key.startswith(choice):
                remainder = _remainder_after(text, choice)
                if _BRACKETED_NOTE.fullmatch(remainder):
                    remainder = ""
                return Match(index[choice], 100.0, choice, remainder=remainder)
    if len(key) < 2:
        return None
    found = process.extractOne(key, choices, scorer=fuzz.ratio, score_cutoff=threshold)
    if found is None:
        return None
    choice, score, _ = found
    return Match(index[choice], float(score), choice)


def _remainder_after(text: str, normalised_prefix: str) -> str:
    """The raw text left after a label that was matched in normalised form."""
    consumed = 0
    for position, char in enumerate(text):
        if normalise(char):
            consumed += len(normalise(char))
        if consumed >= len(normalised_prefix):
            return text[position + 1:].strip(" :：\t")
    return ""


def strip_weight(text: str) -> tuple[str, float | None]:
    """Split "产出指标（50分）" into ("产出指标", 50)."""
    weight = None
    found = re.search(r"[(（]\s*(\d+(?:\.\d+)?)\s*分?\s*[)）]|(\d+(?:\.\d+)?)\s*分", text)
    if found:
        weight = float(found.group(1) or found.group(2))
    return _WEIGHT.sub("", text).strip(), weight


def canonical_level1(text: str) -> Match | None:
    """产出指标/成本指标/效益指标/满意度指标 from a printed first-level label."""
    label, _ = strip_weight(text)
    label = normalise(label)
    if label.startswith("绩效") and len(label) > 4:
        label = label[2:]
    return match_in(label, ("categories", "level1"), threshold=80.0, allow_prefix=False)


def canonical_level2(text: str) -> Match | None:
    """The canonical second-level category of a printed label (社会效益 → 社会效益指标)."""
    label, _ = strip_weight(text)
    return match_in(label, ("categories", "level2"), threshold=80.0, allow_prefix=False)


def level1_of(level2: str) -> str | None:
    return vocabulary("categories")["level1_of_level2"].get(level2)


SIGNATURE_SCORE = 85.0
"""The score of a label named by its wording (``_signatures``) rather than by a known variant."""
_SIGNATURE_MAX_LENGTH = 20


@lru_cache(maxsize=100_000)
def match_label(text: str, template: str, *, threshold: float = 85.0) -> Match | None:
    """A field label of the given template (fused "label value" cells give a remainder).

    A known variant first; failing that, a short cell worded like one of the
    template's labels (``_signatures`` in labels.json) names that field."""
    found = match_in(text, ("labels", template), threshold=threshold)
    if found is not None or threshold > SIGNATURE_SCORE:
        return found
    for label, remainder in _label_value_splits(text):
        key = normalise(label)
        if not 2 <= len(key) <= _SIGNATURE_MAX_LENGTH:
            continue
        if len(normalise(remainder)) > _SIGNATURE_MAX_LENGTH and len(key) < 6:
            continue  # "存在问题：…" opens a text; only a label-length head before a long text is a label
        for canonical, pattern in _signatures(template):
            if pattern.search(key):
                return Match(canonical, SIGNATURE_SCORE, key, remainder=remainder, by_wording=True)
    return None


def _label_value_splits(text: str) -> list[tuple[str, str]]:
    """Readings of a cell as a label: "label：value", "label 64,200" (a number after a space), then
    the whole cell."""
    splits = []
    colon = re.search(r"[:：]", text)
    if colon and text[colon.end():].strip():
        splits.append((text[:colon.start()], text[colon.end():].strip()))
    space = re.search(r"\s+(\S*\d\S*)$", text.strip())
    if space:
        splits.append((text.strip()[:space.start()], space.group(1)))
    splits.append((text, ""))
    return splits


@lru_cache(maxsize=None)
def _signatures(template: str) -> tuple[tuple[str, re.Pattern[str]], ...]:
    table = vocabulary("labels").get("_signatures", {}).get(template, {})
    return tuple((canonical, re.compile(pattern)) for canonical, patterns in table.items() for pattern in patterns)


def best_name(text: str, names: list[str], threshold: float = WEAK) -> Match | None:
    """The known name closest to ``text`` (units, departments)."""
    if not names:
        return None
    key = normalise(text)
    lookup = {normalise(name): name for name in names}
    if key in lookup:
        return Match(lookup[key], 100.0, key)
    found = process.extractOne(key, list(lookup), scorer=fuzz.ratio, score_cutoff=threshold)
    if found is None:
        return None
    return Match(lookup[found[0]], float(found[1]), found[0])
