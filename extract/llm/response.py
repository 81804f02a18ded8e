"""The strict response model the LLM fills, and the checks that make instructor re-ask.

``TableAnswer`` is derived from ``schemas.record.TableContent`` (the contract), minus
what jixiao already knows before asking (``format_version``, ``source``, ``template``),
so the record's shape is defined in one place only.

Its validator runs only when the validation context carries an ``AnswerCheck``; it
then checks the answer against the table it came from:

- every level1/level2 is a canonical category name;
- every value is printed in the table (``extract.llm.grounding``): an invented number
  is sent back to the model;
- the numeric rules of the form (``extract.verify``, errors only) hold.

A failed check raises, and instructor re-asks with the message, which names each field
by its record path in backticks. Documents break the rules themselves and OCR damage
means a correct value may be missing from the text, so every problem is raised **once
per table**: an answer that repeats a value the check already asked about is accepted
as the model's considered reading, and the flags of grounding and verification then
tell the reviewer. That bounds the re-asks by what is wrong, not by what the document
says, and keeps the model from being pushed into "fixing" a number that is printed so.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    ValidationInfo,
    create_model,
    model_validator,
)
from pydantic_core import PydanticCustomError

from extract.llm.grounding import (
    Grounding,
    TableIndex,
    describe_ungrounded,
    ground,
    off_row_fields,
    printed_level2,
)
from extract.llm.prompting import TableText
from extract.match import level1_of, vocabulary
from schemas.paths import iter_leaves
from schemas.record import Record, Source, TableContent

EXCLUDED_FIELDS = ("format_version", "source", "template")
MAX_LISTED_PROBLEMS = 25
CHECK_KEY = "answer_check"
"""The validation-context key under which instructor hands the ``AnswerCheck`` to the validator."""

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)


def answer_json(text: str) -> str:
    """The JSON object in a model's reply: reasoning (``<think>…</think>``) and fences removed."""
    text = _THINK.sub("", text)
    if re.search(r"</think>", text, re.IGNORECASE):
        text = re.split(r"</think>", text, flags=re.IGNORECASE)[-1]
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    start, end = text.find("{"), text.rfind("}")
    return text[start:end + 1] if start >= 0 and end > start else text.strip()


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an answer, named by field paths; ``key`` identifies it across attempts."""

    key: tuple[Any, ...]
    fields: tuple[str, ...]
    message: str
    kind: str


@dataclass
class AnswerCheck:
    """What the validator needs to judge an answer for one table, and what it already asked."""

    table: TableText
    index: TableIndex
    focus: frozenset[str] | None = None
    """Hybrid: only problems touching these fields (list indices ignored) make a re-ask; the rules'
    reading stands elsewhere and reconciliation checks the LLM's values there. None: every field."""
    asked: set[tuple[Any, ...]] = field(default_factory=set)
    rounds: int = 0
    _located: tuple[str, dict[str, Grounding]] | None = field(default=None, repr=False)

    def locate(self, data: dict[str, Any]) -> dict[str, Grounding]:
        """Grounding of an answer dump; the last one is kept, since the record is built from it next."""
        key = json.dumps(data, ensure_ascii=False, sort_keys=True)
        if self._located is None or self._located[0] != key:
            self._located = (key, ground(data, self.index))
        return self._located[1]

    def problems(self, answer: BaseModel) -> list[Problem]:
        """Every problem of the answer (no memory)."""
        data = answer.model_dump(mode="json")
        found: list[Problem] = []
        found.extend(_vocabulary_problems(data))
        located = self.locate(data)
        ungrounded = set()
        for grounding in located.values():
            if not grounding.grounded:
                ungrounded.add(grounding.path)
                found.append(Problem(("ground", grounding.path, json.dumps(grounding.value, ensure_ascii=False)),
                                     (grounding.path,), f"`{grounding.path}`: "
                                     + describe_ungrounded(grounding, self.table), "ungrounded"))
        found.extend(_row_problems(data, self.index))
        found.extend(_rule_problems(answer_record(data, self.table), ungrounded))
        return found

    def review(self, answer: BaseModel) -> list[Problem]:
        """The problems not raised before for this table (at most ``MAX_LISTED_PROBLEMS``, the ones the
        message names); they are remembered as raised, the rest wait for the next round."""
        self.rounds += 1
        fresh = [problem for problem in self.problems(answer) if problem.key not in self.asked
                 and self._in_focus(problem)]
        listed = fresh[:MAX_LISTED_PROBLEMS]
        self.asked.update(problem.key for problem in listed)
        return listed


    def _in_focus(self, problem: Problem) -> bool:
        if self.focus is None:
            return True
        wanted = {_unindexed(path) for path in self.focus}
        return any(_unindexed(path) == target or _unindexed(path).startswith((target + ".", target + "["))
                   or target.startswith(_unindexed(path) + ".") for path in problem.fields for target in wanted)


_INDEX = re.compile(r"\[\d+\]")


def _unindexed(path: str) -> str:
    return _INDEX.sub("[]", path)


_CATEGORY_PATH = re.compile(r"^(indicators\[\d+\]\.level[12]|category_scores\[\d+\]\.level1)$")


def _vocabulary_problems(data: dict[str, Any]) -> list[Problem]:
    categories = vocabulary("categories")
    problems = []
    names = set(categories["level1"]) | set(categories["level2"])
    for path, value in iter_leaves(data):
        if isinstance(value, str) and value in names and not _CATEGORY_PATH.match(path):
            problems.append(Problem(("category-as-text", path, value), (path,),
                                    f"`{path}` = {value!r} is an indicator category, not this field's text",
                                    "vocabulary"))
    used = {indicator.get("level1") for indicator in data.get("indicators") or []}
    for position, category in enumerate(data.get("category_scores") or []):
        level1 = category.get("level1")
        if level1 is not None and used and level1 not in used:
            path = f"category_scores[{position}].level1"
            problems.append(Problem(("category-unused", path, level1), (path,),
                                    f"`{path}` = {level1!r}, but no indicator belongs to that category", "vocabulary"))
    for index, indicator in enumerate(data.get("indicators") or []):
        for key in ("level1", "level2"):
            value = indicator.get(key)
            names = categories[key]
            if value is not None and value not in names:
                path = f"indicators[{index}].{key}"
                problems.append(Problem(("vocabulary", path, value), (path,),
                                        f"`{path}` = {value!r} is not a canonical name; use one of "
                                        + "、".join(names), "vocabulary"))
    return problems


def _row_problems(data: dict[str, Any], index: TableIndex) -> list[Problem]:
    """Values printed elsewhere than on their indicator's row, and categories that contradict each other."""
    problems = []
    for position, indicator in enumerate(data.get("indicators") or []):
        off = off_row_fields(data, index, position)
        if off:
            fields = tuple(off) + ((f"indicators[{position}].name",) if len(off) >= 2 else ())
            named = ", ".join(f"`{path}`" for path in fields)
            values = json.dumps({path.rsplit(".", 1)[1]: indicator.get(path.rsplit(".", 1)[1]) for path in fields},
                                ensure_ascii=False, sort_keys=True)
            problems.append(Problem(("row", position, values), fields,
                                    f"{named}: printed in the table, but not on the row of the indicator "
                                    f"{indicator.get('name')!r}; take the values from that indicator's own row", "row"))
        level1, level2 = indicator.get("level1"), indicator.get("level2")
        printed = printed_level2(data, index, position) if level2 else None
        if printed is not None and printed[1] != level2:
            path = f"indicators[{position}].level2"
            problems.append(Problem(("row-level2", position, level2), (path,),
                                    f"`{path}` = {level2!r}, but the indicator's row (line {printed[0]}) prints "
                                    f"the category {printed[1]!r}", "row"))
        implied = level1_of(level2) if level2 else None
        if level1 and implied and implied != level1:
            fields = (f"indicators[{position}].level1", f"indicators[{position}].level2")
            problems.append(Problem(("levels", position, level1, level2), fields,
                                    f"`{fields[0]}` = {level1!r} and `{fields[1]}` = {level2!r} do not belong "
                                    f"together ({level2} is under {implied})", "levels"))
    names: dict[str, int] = {}
    for position, indicator in enumerate(data.get("indicators") or []):
        name = indicator.get("name")
        copied = [key for key in ("target", "adjusted_target", "actual") if name and indicator.get(key) == name]
        if copied:
            fields = (f"indicators[{position}].name",) + tuple(f"indicators[{position}].{key}" for key in copied)
            problems.append(Problem(("name-is-value", position, name), fields,
                                    f"{', '.join(f'`{path}`' for path in fields)}: the indicator's name repeats its "
                                    f"own {'/'.join(copied)} {name!r}; the name is the 三级指标 text", "names"))
        if name and name in names:
            fields = (f"indicators[{names[name]}].name", f"indicators[{position}].name")
            problems.append(Problem(("name-twice", name, position), fields,
                                    f"{', '.join(f'`{path}`' for path in fields)}: two indicators named {name!r}; "
                                    "each row's name is its own 三级指标 text", "names"))
        names.setdefault(name, position)
    seen: dict[str, int] = {}
    for position, category in enumerate(data.get("category_scores") or []):
        level1 = category.get("level1")
        if level1 in seen:
            fields = (f"category_scores[{seen[level1]}].level1", f"category_scores[{position}].level1")
            problems.append(Problem(("category-twice", level1, position), fields,
                                    f"{', '.join(f'`{path}`' for path in fields)}: the category {level1!r} is listed "
                                    "twice", "categories"))
        seen.setdefault(level1, position)
    return problems


def _rule_problems(record: Record, ungrounded: set[str]) -> list[Problem]:
    from extract.verify import verify

    problems = []
    for flag in verify(record):
        if flag.severity != "error" or (flag.fields and all(path in ungrounded for path in flag.fields)):
            continue
        named = ", ".join(f"`{path}`" for path in flag.fields)
        values = json.dumps(flag.values, ensure_ascii=False, sort_keys=True, default=str)
        problems.append(Problem(("rule", flag.rule, tuple(flag.fields), values), tuple(flag.fields),
                                f"rule {flag.rule} ({named}): {flag.message}", "rule"))
    return problems


def answer_record(data: dict[str, Any], table: TableText) -> Record:
    """A record of the answer's values for the table (no evidence, flags or extractor yet)."""
    return Record(source=Source(doc=table.doc, start_line=table.start_line, end_line=table.end_line),
                  template=table.template, **data)  # type: ignore[arg-type]


def problem_message(problems: list[Problem]) -> str:
    lines = [f"- {problem.message}" for problem in problems]
    return ("The answer does not agree with the table text:\n" + "\n".join(lines) +
            "\nLook at the table again and correct what you misread. A value the table really prints "
            "that way may be answered again unchanged; a value the table does not print is null.")


class AnswerBase(BaseModel):
    """Strict: unknown keys are errors, so a model that drifts from the schema is re-asked."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **kwargs: Any) -> Any:  # type: ignore[override]
        """Accept the reply of a reasoning model or a fenced block: the JSON object inside it."""
        text = json_data.decode("utf-8", "replace") if isinstance(json_data, (bytes, bytearray)) else json_data
        return super().model_validate_json(answer_json(text), **kwargs)

    @model_validator(mode="after")
    def _agrees_with_table(self, info: ValidationInfo) -> AnswerBase:
        check = (info.context or {}).get(CHECK_KEY) if isinstance(info.context, dict) else None
        if not isinstance(check, AnswerCheck):
            return self
        problems = check.review(self)
        if problems:
            raise PydanticCustomError("table_check", "{message}", {"message": problem_message(problems)})
        return self


_ANSWER_FIELDS: dict[str, Any] = {
    name: (info.annotation, info) for name, info in TableContent.model_fields.items() if name not in EXCLUDED_FIELDS
}

TableAnswer: type[AnswerBase] = create_model(  # type: ignore[call-overload]
    "SelfEvaluationTable",
    __base__=AnswerBase,
    __module__=__name__,
    __doc__="One performance self-evaluation table (绩效自评表) read from OCR text. Every key is present; "
            "a value the table does not print is null (lists: []).",
    **_ANSWER_FIELDS,
)


@lru_cache(maxsize=1)
def schema_fingerprint() -> str:
    """Changes whenever the response schema does (part of the cache key)."""
    import hashlib

    schema = json.dumps(TableAnswer.model_json_schema(), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(schema.encode("utf-8")).hexdigest()[:12]


def parse_leniently(text: str) -> AnswerBase | None:
    """An answer from raw reply text without the table checks (the best-effort path), or None."""
    try:
        return TableAnswer.model_validate_json(text)
    except ValueError:
        return None
