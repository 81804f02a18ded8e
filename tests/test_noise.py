"""The noise generator: deterministic, identity at rate 0, and damage that a repair can undo, so gold stays true.

"Gold stays consistent" is checked by undoing the damage the way the annotation rules
repair OCR (drop watermarks, restore glyphs, join split numbers, split merged dates, read
cells by content, not position) and finding the original table content, line for line,
at the remapped gold line numbers.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from extract.noise import DAMAGE_KINDS, GLYPH_VARIANTS, WATERMARK_FORMS, damage_document, measure_noise_curve
from schemas.record import ErrorEntry, GoldRecord, Indicator, Record, Source

DOCS = Path(__file__).resolve().parents[1] / "eval" / "docs"
DOC_000 = "000_cc1de7d507d20929.txt"
DOC_002 = "002_df651f07c846b8e4.txt"
SEED_DOCS = sorted(path.name for path in DOCS.glob("*.txt"))


def seed_text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def gold(doc: str, start: int, end: int, template: str, department: str | None = None,
         unit: str | None = None, names: tuple[str, ...] = ()) -> GoldRecord:
    return GoldRecord(
        source=Source(doc=doc, start_line=start, end_line=end),
        template=template,
        department=department,
        implementing_unit=unit,
        indicators=[Indicator(name=name) for name in names],
    )


# Minimal gold for two seed tables (span, template, the names the generator looks at).
GOLD_000 = gold(DOC_000, 517, 566, "city-project", "阳泉市民政局", "阳泉市城乡居民最低生活保障管理中心",
                ("每年核对社会救助申请家庭经济状况的批次", "单位核对系统正常运转率", "培训成本", "救助家庭满意度"))
GOLD_002 = [
    gold(DOC_002, 526, 556, "province-project", "汾阳市人力资源和社会保障局", "汾阳市社会保险中心",
         ("村数", "补助率", "是否及时", "代办员补助金额", "有效提高城乡居民的参保率", "代办员的满意度")),
    gold(DOC_002, 826, 858, "other", "汾阳市人力资源和社会保障局"),
]
GOLD_BY_DOC = {DOC_000: [GOLD_000], DOC_002: GOLD_002}

_REVERSE_GLYPHS = {variant: plain for plain, variant in GLYPH_VARIANTS.items()}


def repaired_cells(line: str) -> tuple[str, ...]:
    """The non-empty cells of a line after the documented OCR repairs."""
    for form in WATERMARK_FORMS:
        line = line.replace(f" {form} ", "")
    cells: list[str] = []
    for cell in line.split("\t"):
        text = cell.strip()
        if not text or text in WATERMARK_FORMS:
            continue
        text = "".join(_REVERSE_GLYPHS.get(char, char) for char in text).replace("己完成", "已完成")
        text = re.sub(r"(?<=\d)([.,]) (?=\d)", r"\1", text)
        text = re.sub(r"(?<![\d.,])(\d+),(\d{1,2}|\d{4,})(?![\d.,])", r"\1.\2", text)
        text = re.sub(r"(\d{4}\.\d{1,2}\.\d{1,2})\s*[—–\-－]?\s*(?=\d{4}\.\d{1,2}\.\d{1,2})", r"\1—", text)
        cells.append(text)
    return tuple(cells)


def repaired_lines(text: str) -> list[tuple[str, ...]]:
    return [cells for cells in map(repaired_cells, text.split("\n")) if cells]


@pytest.mark.parametrize("name", SEED_DOCS)
def test_rate_zero_is_the_identity(name: str) -> None:
    text = seed_text(name)
    records = GOLD_BY_DOC.get(name, [])
    noisy = damage_document(text, records, rate=0.0, seed=7, doc=name)
    assert noisy.text == text
    assert noisy.gold == records
    assert noisy.damages == []


def test_same_seed_same_damage_other_seed_other_damage() -> None:
    text = seed_text(DOC_000)
    first = damage_document(text, [GOLD_000], rate=0.1, seed=3)
    again = damage_document(text, [GOLD_000], rate=0.1, seed=3)
    other = damage_document(text, [GOLD_000], rate=0.1, seed=4)
    assert first.text == again.text and first.gold == again.gold and first.damages == again.damages
    assert first.text != other.text
    assert first.text != text


def test_more_noise_damages_a_superset_of_sites() -> None:
    text = seed_text(DOC_002)
    low = damage_document(text, GOLD_002, rate=0.05, seed=1).counts()
    high = damage_document(text, GOLD_002, rate=0.2, seed=1).counts()
    assert sum(low.values()) < sum(high.values())
    assert all(count <= high.get(kind, 0) for kind, count in low.items())


@pytest.mark.parametrize("rate", [0.3, 1.0])
@pytest.mark.parametrize("name", SEED_DOCS)
def test_damage_can_be_repaired_so_gold_stays_true(name: str, rate: float) -> None:
    text = seed_text(name)
    records = GOLD_BY_DOC.get(name, [])
    kinds = [kind for kind in DAMAGE_KINDS if kind != "truncated-name"]  # tested on its own below
    noisy = damage_document(text, records, rate=rate, seed=11, doc=name, kinds=kinds)
    assert noisy.text != text
    assert repaired_lines(noisy.text) == repaired_lines(text)
    old_lines, new_lines = text.split("\n"), noisy.text.split("\n")
    for before, after in zip(records, noisy.gold, strict=True):
        for old, new in ((before.source.start_line, after.source.start_line), (before.source.end_line, after.source.end_line)):
            assert repaired_cells(new_lines[new - 1]) == repaired_cells(old_lines[old - 1])
        assert after.model_dump(exclude={"source"}) == before.model_dump(exclude={"source"})
        assert_indicator_cells_keep_their_columns(before, old_lines, new_lines, noisy.line_map)


def positional_cells(line: str, name: str) -> list[str]:
    """The cells after an indicator's name, watermarks read as empty, trailing empties cut."""
    cells = [cell.strip() for cell in line.split("\t")]
    start = next(index for index, cell in enumerate(cells) if name in repaired_cells(cell)[:1] or name == cell)
    after = ["" if cell in WATERMARK_FORMS else (repaired_cells(cell) or ("",))[0] for cell in cells[start + 1:]]
    while after and not after[-1]:
        after.pop()
    return after


def assert_indicator_cells_keep_their_columns(
    record: GoldRecord, old_lines: list[str], new_lines: list[str], line_map: list[int]
) -> None:
    """In an indicator row an empty cell is a null target or actual: its column must survive."""
    checked = 0
    for number in range(record.source.start_line, record.source.end_line + 1):
        for item in record.indicators:
            if item.name and item.name in old_lines[number - 1].split("\t"):
                new_line = new_lines[line_map[number - 1] - 1]
                assert positional_cells(new_line, item.name) == positional_cells(old_lines[number - 1], item.name)
                checked += 1
    assert checked or not record.indicators


def test_every_kind_of_damage_occurs_on_the_seeds() -> None:
    seen: set[str] = set()
    for name in SEED_DOCS:
        seen |= set(damage_document(seed_text(name), GOLD_BY_DOC.get(name, []), rate=1.0, seed=0, doc=name).counts())
    assert seen == set(DAMAGE_KINDS)


def test_inserted_lines_move_gold_line_numbers_exactly() -> None:
    text = seed_text(DOC_002)
    noisy = damage_document(text, GOLD_002, rate=0.5, seed=2, kinds=["watermark-line"])
    old_lines, new_lines = text.split("\n"), noisy.text.split("\n")
    inserted = noisy.counts()["watermark-line"]
    assert len(new_lines) > len(old_lines) and inserted > 0
    for before, after in zip(GOLD_002, noisy.gold, strict=True):
        assert after.source.start_line > before.source.start_line
        assert new_lines[after.source.start_line - 1] == old_lines[before.source.start_line - 1]
        assert new_lines[after.source.end_line - 1] == old_lines[before.source.end_line - 1]
    for damage in noisy.damages:
        assert new_lines[damage.line - 1] in WATERMARK_FORMS
    assert [new_lines[new - 1] for new in noisy.line_map] == old_lines


SMALL_LINES = [
    "单位：阳泉市民政局",                                   # 1: the full name, outside the table
    "阳泉市项目支出绩效自评表",                             # 2
    "主管部门\t\t阳泉市民政局\t\t实施单位\t阳泉市救助站",   # 3
    "\t\t时效指标\t是否及时\t\t是\t达成预期指标\t\t10\t10\t",  # 4: an indicator row, target empty
    "项目起止时间\t\t2024.01.01—2024.12.31\t\t",           # 5
    "总分\t\t\t\t96\t",                                     # 6
]
SMALL = "\n".join(SMALL_LINES)
SMALL_GOLD = gold("small.txt", 2, 6, "city-project", "阳泉市民政局", "阳泉市救助站", ("是否及时",))


def test_names_are_cut_only_where_the_full_name_is_printed_elsewhere() -> None:
    noisy = damage_document(SMALL, [SMALL_GOLD], rate=1.0, seed=0, kinds=["truncated-name"])
    line = noisy.text.split("\n")[2]
    assert line.split("\t")[2] == "民政局"          # 阳泉市民政局 is still printed on line 1
    assert line.split("\t")[5] == "阳泉市救助站"    # printed nowhere else: left whole
    assert noisy.gold[0].department == "阳泉市民政局"


def test_empty_cells_that_carry_meaning_are_never_dropped() -> None:
    noisy = damage_document(SMALL, [SMALL_GOLD], rate=1.0, seed=0, kinds=["dropped-empty-cell"])
    row = noisy.text.split("\n")[3].split("\t")
    # the empty target between 是否及时 and 是 stays; the trailing empty cell goes; leading
    # cells go because the row's first cell is a 指标 label that says which column it is;
    # padding after the labels 主管部门 and 总分 goes
    assert row == ["时效指标", "是否及时", "", "是", "达成预期指标", "", "10", "10"]
    assert noisy.text.split("\n")[2].split("\t") == ["主管部门", "阳泉市民政局", "实施单位", "阳泉市救助站"]
    assert noisy.text.split("\n")[5].split("\t") == ["总分", "96"]


def test_merged_dates_lose_only_their_dash() -> None:
    noisy = damage_document(SMALL, [SMALL_GOLD], rate=1.0, seed=0, kinds=["merged-date"])
    assert noisy.text.split("\n")[4].split("\t")[2] == "2024.01.012024.12.31"


def test_goal_form_cells_are_not_moved() -> None:
    other = SMALL_GOLD.model_copy(update={"template": "other"})
    noisy = damage_document(SMALL, [other], rate=1.0, seed=0, kinds=["dropped-empty-cell", "shifted-cell"])
    assert noisy.text == SMALL


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        damage_document(SMALL, [SMALL_GOLD], rate=1.5)
    with pytest.raises(ValueError, match="unknown damage"):
        damage_document(SMALL, [SMALL_GOLD], rate=0.1, kinds=["coffee-stain"])
    with pytest.raises(ValueError, match="another document"):
        damage_document(SMALL, [SMALL_GOLD], rate=0.1, doc="other.txt")


def test_noise_curve_extracts_each_damaged_text_and_scores_it() -> None:
    """With a fake extractor that finds the table by its title line, every rate scores perfectly."""
    texts_seen: dict[float, str] = {}

    def fake_extract(text: str, doc: str) -> list[Record | ErrorEntry]:
        lines = text.split("\n")
        start = next(number for number, line in enumerate(lines, 1) if "项目支出绩效" in line)
        end = next(number for number, line in enumerate(lines, 1) if "总分" in line.split("\t"))
        texts_seen[len(texts_seen)] = text
        data = SMALL_GOLD.model_dump(exclude={"uncertain", "gold_notes"})
        data["source"] = {"doc": doc, "start_line": start, "end_line": end}
        return [Record.model_validate(data)]

    curve, reports = measure_noise_curve({"small.txt": SMALL, "no-gold.txt": "x"}, [SMALL_GOLD], [0.0, 0.5, 1.0], fake_extract, seed=5)
    assert curve.docs == ["small.txt"]
    assert [point.rate for point in curve.points] == [0.0, 0.5, 1.0]
    assert all(point.accuracy == 1.0 and point.silent_error_rate == 0.0 for point in curve.points)
    assert texts_seen[0] == SMALL and texts_seen[2] != SMALL
    assert curve.points[0].damages == {}
    assert sum(curve.points[2].damages.values()) > sum(curve.points[1].damages.values()) > 0
    assert set(reports) == {0.0, 0.5, 1.0}
