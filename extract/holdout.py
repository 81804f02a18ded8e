"""Leave-one-out measurement: the rules extractor on a document that did not teach it.

The extractor learned from the seed documents in one place that can be taken
back mechanically: the vocabularies (``schemas/vocab``), whose OCR and print
variants were collected while reading the seeds. Holding a document out hides
every variant that only that document prints, unless the record-format contract
names it (the contract is known before any document is read). The document is
then extracted with what is left, and scored as usual.

What this cannot take back is the code: the rules were written with all seeds in
view, so the held-out figures are an upper bound on an unseen document, and the
gap between them and the all-seen figures is a lower bound on over-fitting to
the vocabulary. ``jixiao eval --leave-one-out`` prints both side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager

from extract.evaluate import EvalReport, score
from extract.match import hide_variants, normalise, vocabulary
from schemas.record import ErrorEntry, GoldRecord, Record

VOCABULARIES = ("labels", "categories")

Extractor = Callable[[str, str], Sequence[Record | ErrorEntry]]
"""(text, document name) → the records and error entries of that document."""


def printed_variants(name: str) -> set[str]:
    """Every printed variant of one vocabulary file, normalised (canonical keys excluded)."""
    found: set[str] = set()

    def walk(table: Mapping) -> None:
        for key, value in table.items():
            if key.startswith("_"):
                continue
            if isinstance(value, Mapping):
                walk(value)
            elif isinstance(value, list):
                found.update(normalise(variant) for variant in value if isinstance(variant, str))

    walk(vocabulary(name))
    found.discard("")
    return found


def taught_only_by(doc: str, texts: Mapping[str, str], prior: str) -> dict[str, set[str]]:
    """The variants, per vocabulary, that ``doc`` prints and neither the prior text nor any other
    document does: what the vocabulary could only have learned from ``doc``."""
    flat = {name: normalise(text) for name, text in texts.items()}
    known_before = normalise(prior)
    hidden: dict[str, set[str]] = {}
    for vocab in VOCABULARIES:
        hidden[vocab] = {
            variant for variant in printed_variants(vocab)
            if variant in flat[doc] and variant not in known_before
            and not any(variant in text for other, text in flat.items() if other != doc)
        }
    return hidden


@contextmanager
def vocabulary_without(hidden: Mapping[str, set[str]]) -> Iterator[None]:
    """Extract as if the vocabularies had never seen ``hidden``; restored on exit."""
    from extract.pipeline import clear_caches

    hide_variants(dict(hidden))
    clear_caches()
    try:
        yield
    finally:
        hide_variants({})
        clear_caches()


def leave_one_out(texts: Mapping[str, str], gold: Sequence[GoldRecord], extract: Extractor, *, prior: str,
                  top_errors: int) -> tuple[EvalReport, dict[str, list[str]]]:
    """Each document extracted with the vocabulary it did not teach, all scored together.

    Returns the held-out report (by document and by template, as any report) and the
    variants hidden for each document."""
    records: list[Record] = []
    errors: list[ErrorEntry] = []
    hidden_by_doc: dict[str, list[str]] = {}
    for doc, text in texts.items():
        hidden = taught_only_by(doc, texts, prior)
        hidden_by_doc[doc] = sorted(f"{vocab}:{variant}" for vocab, variants in hidden.items() for variant in variants)
        with vocabulary_without(hidden):
            for item in extract(text, doc):
                (records if isinstance(item, Record) else errors).append(item)
    return score(list(gold), records, extractor_errors=errors, top_errors=top_errors), hidden_by_doc
