"""Segmentation: every self-evaluation table of the seeds, with its printed form, and nothing else.

The expected spans and templates are those of the gold files (annotated by
reading, shared/spec/seed-notes.md §1): 46 tables, 29 city, 13 province, 4 goal
forms (`other`). Narrative mentions of "…绩效自评表", the goal form's footer and
the standard budget tables (公开01–10) are not tables.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import cache
from itertools import pairwise

import pytest
from support.seeds import FILES, GOLD, document, spans

from extract.load import load_text
from extract.segment import classify, is_title, segment


@cache
def gold_tables() -> tuple[tuple[str, int, int, str], ...]:
    """(doc key, start line, end line, template) of every gold record."""
    found = []
    for path in sorted(GOLD.glob("*.jsonl")):
        for text in path.read_text(encoding="utf-8").splitlines():
            if text.strip():
                record = json.loads(text)
                source = record["source"]
                found.append((source["doc"][:3], source["start_line"], source["end_line"], record["template"]))
    return tuple(sorted(found))


def seed_text(doc: str, first: int, last: int) -> str:
    return "\n".join(document(doc).lines[first - 1:last])


# ---------------------------------------------------------------------------------------------
# Counts and templates over the seeds


@pytest.mark.parametrize(("doc", "count"), [("000", 1), ("001", 25), ("002", 17), ("003", 3)])
def test_table_count_per_document(doc: str, count: int) -> None:
    assert len(spans(doc)) == count


def test_template_per_table() -> None:
    templates = Counter(span.template for doc in FILES for span in spans(doc))
    assert templates == Counter({"city-project": 29, "province-project": 13, "other": 4})
    goal_forms = [span.start_line for span in spans("002") if span.template == "other"]
    assert goal_forms == [826, 894, 929, 1029]


def test_gold_has_the_same_inventory() -> None:
    """The expectations above are the gold set's: guard against the two drifting apart."""
    assert len(gold_tables()) == 46
    assert Counter(table[3] for table in gold_tables()) == Counter(
        {"city-project": 29, "province-project": 13, "other": 4})


@pytest.mark.parametrize("gold", gold_tables(), ids=lambda table: f"{table[0]}:{table[1]}")
def test_each_gold_table_is_one_span_of_its_template(gold: tuple[str, int, int, str]) -> None:
    doc, start, end, template = gold
    overlapping = [span for span in spans(doc) if span.start_line <= end and start <= span.end_line]
    assert len(overlapping) == 1, overlapping
    span = overlapping[0]
    assert span.template == template
    assert abs(span.start_line - start) <= 3, (span.start_line, start)
    shared = min(end, span.end_line) - max(start, span.start_line) + 1
    union = max(end, span.end_line) - min(start, span.start_line) + 1
    assert shared / union >= 0.9, (span.start_line, span.end_line, start, end)


@pytest.mark.parametrize("doc", list(FILES))
def test_spans_are_ordered_and_disjoint(doc: str) -> None:
    found = spans(doc)
    for span in found:
        assert 1 <= span.start_line <= span.header_line <= span.end_line <= len(document(doc).lines)
        assert span.doc == FILES[doc]
    for before, after in pairwise(found):
        assert before.end_line < after.start_line


def test_titles_as_printed_without_the_year_note() -> None:
    city = [span.title for doc in ("000", "001", "003") for span in spans(doc)]
    assert city == ["阳泉市项目支出绩效自评表"] * 29
    titles = {span.start_line: span.title for span in spans("002")}
    assert titles[997] == "2024年遗属补助项目支出绩效自评表"      # "(2024年度)" on the same line
    assert titles[526] == "2023年城乡居民养老代办员补助项目支出绩效自评表"
    assert titles[894] == "2024年特殊困难人员代缴经费补充险（追加）自评表"


# ---------------------------------------------------------------------------------------------
# Things that look like tables and are not


@pytest.mark.parametrize(("doc", "number"), [("000", 479), ("001", 610)])
def test_narrative_attachment_line_is_not_a_table(doc: str, number: int) -> None:
    text = document(doc).line(number)
    assert text.startswith("附件：") and text.endswith("绩效自评表")
    assert not is_title([text])
    assert not any(span.start_line <= number <= span.end_line for span in spans(doc))


def test_narrative_alone_yields_no_table() -> None:
    """000's narrative around its "附件：…绩效自评表" line, without the table that follows."""
    text = seed_text("000", 440, 500)
    assert "绩效自评表" in text
    assert segment(load_text(text, "narrative.txt")) == []


def test_budget_tables_and_cover_yield_no_table() -> None:
    assert segment(load_text(seed_text("003", 1, 640), "front.txt")) == []


@pytest.mark.parametrize("footer", [858, 961, 1063])
def test_goal_form_footer_is_not_a_table_start(footer: int) -> None:
    text = document("002").line(footer)
    assert text.startswith("负责人:") and "填报日期" in text
    assert all(span.start_line != footer for span in spans("002"))
    owner = [span for span in spans("002") if span.start_line <= footer <= span.end_line]
    assert len(owner) == 1 and owner[0].template == "other", "the footer ends its own goal form"


def test_footers_alone_yield_no_table() -> None:
    lines = [document("002").line(number) for number in (858, 926, 927, 961, 1063)]
    assert segment(load_text("\n\n".join(lines), "footers.txt")) == []


# ---------------------------------------------------------------------------------------------
# Tables without a title, and odd title placement


def test_table_without_a_title_line_is_still_found() -> None:
    lines = list(document("000").lines)
    assert lines[514] == "附件1" and lines[516] == "阳泉市项目支出绩效自评表"
    lines[514] = lines[516] = ""
    found = segment(load_text("\n".join(lines), "untitled.txt"))
    assert len(found) == 1
    span = found[0]
    assert span.title is None and span.title_line is None
    assert span.template == "city-project"
    assert 519 <= span.start_line <= 523 and span.end_line == 566


def test_table_body_alone_is_found() -> None:
    """From the 项目名称 row to the 联系电话 line: no title, no stamp, no date."""
    found = segment(load_text(seed_text("000", 523, 566), "body.txt"))
    assert [(span.start_line, span.end_line, span.template) for span in found] == [(1, 44, "city-project")]


def test_001_t10_without_an_attachment_line() -> None:
    span = next(span for span in spans("001") if span.start_line <= 1171 <= span.end_line)
    assert span.title_line == 1165 and span.start_line == 1165


def test_003_t3_project_name_between_title_and_header() -> None:
    span = next(span for span in spans("003") if span.start_line <= 819 <= span.end_line)
    assert span.start_line == 809 and span.title_line == 809


# ---------------------------------------------------------------------------------------------
# The transfer-payment form (none in the seeds): written from shared/spec/record-format.md

TRANSFER_TABLE = """\
附件3

2024年困难群众救助补助资金转移支付项目绩效目标自评表

转移支付（项目）名称：	困难群众救助补助资金
中央主管部门	民政部
地方主管部门	阳泉市民政局	资金使用单位	阳泉市城乡居民最低生活保障管理中心
资金投入情况（万元）		全年预算数（A）	全年执行数（B）	预算执行率（B/A）
	年度资金总额：	500.00	480.50	96.10%
	其中：中央财政资金	300.00	290.50	96.83%
	省级资金	100.00	95.00	95.00%
	市级资金	60.00	55.00	91.67%
	县（区）级资金	40.00	40.00	100.00%
	其他资金	0	0	
资金管理情况	资金专款专用，按季度拨付。
总体目标完成情况	总体目标	全年实际完成情况
	保障城乡困难群众基本生活。	全年按时足额发放救助资金。
绩效指标	一级指标	二级指标	三级指标	指标值	全年实际完成值	未完成原因和改进措施
	产出指标	数量指标	城乡低保对象人数	≥8000人	8123人	
	效益指标	社会效益指标	困难群众基本生活保障水平	稳步提高	提高	
	满意度指标	服务对象满意度指标	救助对象满意度	≥90%	95%	
说明	无
"""


def test_transfer_payment_table_is_classified() -> None:
    found = segment(load_text(TRANSFER_TABLE, "transfer.txt"))
    assert len(found) == 1
    span = found[0]
    assert span.template == "transfer-payment"
    assert span.title == "2024年困难群众救助补助资金转移支付项目绩效目标自评表"
    assert span.start_line == 3 and span.end_line == 22


def test_transfer_payment_recognised_by_its_labels_without_a_title() -> None:
    body = TRANSFER_TABLE.split("\n", 4)[4]
    assert body.startswith("转移支付")
    found = segment(load_text(body, "untitled-transfer.txt"))
    assert [span.template for span in found] == ["transfer-payment"]


def test_transfer_payment_next_to_a_city_table() -> None:
    text = TRANSFER_TABLE + "\n" + seed_text("000", 515, 566)
    found = segment(load_text(text, "mixed.txt"))
    assert [span.template for span in found] == ["transfer-payment", "city-project"]
    assert found[0].end_line < found[1].start_line


def test_classify_uses_body_labels_not_the_title() -> None:
    """A provincial title alone does not separate province from goal forms (seed-notes §1)."""
    province_body = [line.split("\t") for line in document("002").lines[527:556]]
    goal_body = [line.split("\t") for line in document("002").lines[895:927]]
    assert classify(province_body, "2024年某项目支出绩效自评表") == "province-project"
    assert classify(goal_body, "2024年某项目支出绩效自评表") == "other"


def test_title_above_a_run_of_watermark_lines_is_still_the_title() -> None:
    """Noise class: page-break watermark pairs between the title and the header (001-T20 at rate 0.3)."""
    lines = list(document("000").lines)
    assert lines[516] == "阳泉市项目支出绩效自评表"
    lines[517:517] = ["", "仅供内部审核", "", "仅供内部审核", "", "仅供内部审核", "", "仅供内部审核", "", "仅供内部审核", ""] * 2
    found = segment(load_text("\n".join(lines), "watermarked.txt"))
    assert [(span.title, span.title_line) for span in found] == [("阳泉市项目支出绩效自评表", 517)]
