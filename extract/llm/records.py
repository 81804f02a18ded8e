"""From an LLM reply to a record: values, evidence from grounding, and the LLM's flags.

Every value of the answer is located in the table text (``extract.llm.grounding``):
found values get their evidence line, values found nowhere get an
``extract-ungrounded`` flag. An answer kept after the re-asks ran out gets an
``extract-llm-unconfirmed`` flag naming the fields the checks still disputed. A table
the LLM could not answer (transport failure, no parsable answer, budget spent) falls
back to the rules extractor's record with a flag that says so.
"""

from __future__ import annotations

from extract import __version__
from extract.draft import EXTRACTOR_RULE_PREFIX
from extract.llm.grounding import TableIndex, evidence_of, ground, ungrounded_flags
from extract.llm.response import answer_record
from extract.llm.runner import TableReply
from schemas.record import ExtractorInfo, Flag, Record

UNCONFIRMED_RULE = f"{EXTRACTOR_RULE_PREFIX}llm-unconfirmed"
FAILED_RULE = f"{EXTRACTOR_RULE_PREFIX}llm-failed"
SKIPPED_RULE = f"{EXTRACTOR_RULE_PREFIX}llm-skipped"
INSTRUCTION_RULE = f"{EXTRACTOR_RULE_PREFIX}instruction-text"


def llm_record(reply: TableReply, index: TableIndex, model: str, backend: str = "llm") -> Record:
    """The record of an answered table (``reply.answer`` must be set)."""
    assert reply.answer is not None
    table = reply.request.prompt.table
    data = reply.answer.model_dump(mode="json")
    record = answer_record(data, table)
    check = reply.request.check
    located = check.locate(data) if check is not None else ground(data, index)
    record.evidence = evidence_of(located)
    record.flags = ungrounded_flags(located, table) + instruction_flags(index)
    if reply.status == "unconfirmed":
        fields = sorted({path for problem in reply.problems for path in problem.fields})
        record.flags.append(Flag(
            rule=UNCONFIRMED_RULE, severity="warning", fields=fields,
            message=f"the model's answer still failed {len(reply.problems)} table check(s) when the re-asks "
                    f"ran out ({reply.error or 'no further detail'}); the best answer was kept",
            values={"problems": [problem.message for problem in reply.problems[:10]]}))
    record.extractor = ExtractorInfo(backend=backend, model=model, version=__version__,  # type: ignore[arg-type]
                                     prompt_version=reply.request.prompt.version)
    return record


def instruction_flags(index: TableIndex) -> list[Flag]:
    """A notice for each table line that reads as an instruction to a model."""
    lines = index.table.instruction_lines
    if not lines:
        return []
    return [Flag(rule=INSTRUCTION_RULE, severity="warning", fields=[],
                 message=f"line(s) {', '.join(map(str, lines))} read as instructions to a model (prompt "
                         "injection?); they were given to the model as data and never used as evidence",
                 values={"lines": lines})]


def fallback_flag(reply: TableReply) -> Flag:
    """Why the LLM did not answer this table (the record then comes from the rules)."""
    if reply.status == "budget":
        return Flag(rule=SKIPPED_RULE, severity="warning", fields=[],
                    message=f"not sent to the LLM: {reply.error}; the rules extractor's reading is kept")
    return Flag(rule=FAILED_RULE, severity="warning", fields=[],
                message=f"the LLM gave no usable answer ({reply.error}); the rules extractor's reading is kept")


def with_flag(record: Record, flag: Flag) -> Record:
    copy = record.model_copy(deep=True)
    copy.flags.append(flag)
    return copy
