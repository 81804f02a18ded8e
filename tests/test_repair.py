"""Text repairs, on real lines of the seeds (line numbers as in shared/spec/seed-notes.md).

003 is the garbled scan: watermark forms on every page and inside cells, variant
glyphs, split decimals, markup and foreign-script junk. 000 and 002 are clean:
the repairs must leave their text alone.
"""

from __future__ import annotations

import pytest
from support.seeds import lines

from extract.repair import clean_cell, is_watermark, restore_glyphs, strip_markup


def line(doc: str, number: int) -> str:
    return lines(doc)[number - 1]


def cell(doc: str, number: int, containing: str) -> str:
    """The one tab-separated cell of a seed line that holds ``containing``."""
    found = [text for text in line(doc, number).split("\t") if containing in text]
    assert len(found) == 1, f"{doc}:{number} has {len(found)} cells with {containing!r}: {line(doc, number)!r}"
    return found[0]


# ---------------------------------------------------------------------------------------------
# Watermark 仅供内部审核 and its garbled forms


@pytest.mark.parametrize(
    ("doc", "number"),
    [("003", n) for n in (1, 3, 5, 11, 15, 17, 19, 23, 57, 71, 692, 694, 696, 724, 726, 730, 766, 770,
                          801, 803, 805, 843, 845, 847, 880)]
    + [("001", 671), ("001", 673), ("000", 3)]
    + [pytest.param("003", 55, marks=pytest.mark.xfail(
        strict=True, reason="003:55 '以供伪調單' (listed in seed-notes §2.1) is not recognised as a watermark"))],
)
def test_watermark_lines_are_recognised(doc: str, number: int) -> None:
    text = line(doc, number)
    assert is_watermark(text.strip()), text
    assert clean_cell(text) == ""


@pytest.mark.parametrize(
    ("number", "watermark", "kept"),
    [
        (662, "又供内部障核", None),
        (680, "及供内部單", "软件正常使用率"),
        (763, "又供内部", "评审项目完成时间"),
        (784, "人供内部軍權", None),
        (798, "及供内部單位", None),
        (838, "及供内部質", "PPP项目正常运行率"),
        (852, "供内部實際", None),
        (97, "供内部审核", "十一、城乡社区支出"),
        (117, "供内部审", "异公开报告"),
        (109, "业内部", "二十三、其他支出"),
    ],
)
def test_watermark_cells_inside_rows_become_empty(number: int, watermark: str, kept: str | None) -> None:
    assert clean_cell(cell("003", number, watermark)) == ""
    if kept is not None:
        assert clean_cell(cell("003", number, kept)) == kept


def test_watermark_fused_with_a_cell_is_cut_off() -> None:
    assert line("003", 143) == "以供内部样 公开02 表"
    repaired = clean_cell(line("003", 143))
    assert repaired.replace(" ", "") == "公开02表"


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (520, "主要原因是阳泉市财政预算评审中心与阳泉市数字财政管理中心合并"),  # "财政预 以供内部铺材 算评审"
        (538, "主要原因是阳泉市财政预算评审中心与阳泉市数字财政管理中心合并"),  # "预算评审 及供内部 中心"
    ],
)
def test_watermark_inside_narrative_is_removed(number: int, expected: str) -> None:
    repaired = clean_cell(line("003", number))
    assert "供内部" not in repaired
    assert expected in repaired


@pytest.mark.xfail(strict=True, reason="003:52 '发供内部第五部分 附件': the watermark regex swallows '第五' "
                   "and the 6-character match is then not treated as a fragment, so it stays")
def test_watermark_fused_before_a_heading_is_removed() -> None:
    repaired = clean_cell(cell("003", 52, "第五部分"))
    assert "供内部" not in repaired and "第五部分" in repaired


@pytest.mark.xfail(strict=True, reason="headless fragments '部軍' (003:439, a 三公 value cell) and '部軍的' "
                   "(003:782, a score cell) are kept (as 部军/部军的) instead of being read as empty")
@pytest.mark.parametrize(("number", "fragment"), [(439, "部軍"), (782, "部軍的")])
def test_headless_watermark_fragments_become_empty(number: int, fragment: str) -> None:
    assert clean_cell(cell("003", number, fragment)) == ""


@pytest.mark.parametrize("text", ["加强内部控制制度建设", "单位内部管理规范有序", "内部培训2次"])
def test_ordinary_words_with_nei_bu_are_not_watermarks(text: str) -> None:
    assert not is_watermark(text)
    assert clean_cell(text) == text


# ---------------------------------------------------------------------------------------------
# Variant and traditional glyphs


@pytest.mark.parametrize(
    ("doc", "number", "printed", "expected"),
    [
        ("003", 671, "一級指标", "一级指标"),
        ("003", 671, "二級指标", "二级指标"),
        ("003", 831, "管理市本級PPP项目", "管理市本级PPP项目"),
        ("003", 707, "満意度指", "满意度指"),
        ("003", 684, "毎年12月底 前", "每年12月底前"),
        ("003", 687, "己完成", "已完成"),
        ("001", 1303, "主管部門满意度", "主管部门满意度"),
        ("001", 1881, "喪属满意度", "丧属满意度"),
        ("001", 1990, "指标1 减免人數", "指标1 减免人数"),
    ],
)
def test_glyphs_restored_in_real_cells(doc: str, number: int, printed: str, expected: str) -> None:
    assert cell(doc, number, printed) == printed
    assert clean_cell(printed) == expected


def test_traditional_glyphs_in_a_fused_label_cell() -> None:
    repaired = clean_cell(cell("003", 746, "县(区)財政 县(区)財政"))
    assert "財" not in repaired
    assert repaired.count("县(区)财政") == 2


@pytest.mark.parametrize(("number", "printed"), [(688, "≪300元/人 /天"), (690, "≪400元/天")])
def test_much_less_than_means_less_or_equal(number: int, printed: str) -> None:
    repaired = clean_cell(cell("003", number, printed))
    assert "≪" not in repaired
    assert repaired.startswith("≤") and repaired.replace(" ", "") == printed.replace("≪", "≤").replace(" ", "")


@pytest.mark.parametrize("text", ["提高自己的业务能力", "知己知彼", "各司其职，己所不欲"])
def test_ji_is_kept_outside_the_completed_context(text: str) -> None:
    assert restore_glyphs(text) == text


def test_dui_xiao_means_shi_xiao() -> None:
    assert clean_cell(cell("003", 762, "對效指标")) == "时效指标"


@pytest.mark.xfail(strict=True, reason="003:351 '助子並': jp2t maps 並 to the variant 竝 and t2s keeps it, "
                   "so 並 becomes 竝 instead of 并")
def test_traditional_bing_becomes_simplified() -> None:
    assert clean_cell(cell("003", 351, "助子並")).endswith("并")


# ---------------------------------------------------------------------------------------------
# Spacing: split decimals, spaced words


@pytest.mark.parametrize(
    ("doc", "number", "printed", "expected"),
    [
        ("003", 661, "30. 01", "30.01"),
        ("003", 743, "258. 28", "258.28"),
        ("003", 849, "98. 99分", "98.99分"),
        ("003", 750, "=80. 71%", "=80.71%"),
        ("003", 849, "总 分", "总分"),
        ("001", 729, "≥ 85%", "≥85%"),
        ("001", 729, "满 意 度 指 标 (10分)", "满意度指标 (10分)"),
        ("001", 1397, "需 要维修", "需要维修"),
    ],
)
def test_stray_spaces_removed(doc: str, number: int, printed: str, expected: str) -> None:
    original = cell(doc, number, printed)
    assert expected in clean_cell(original)


@pytest.mark.parametrize(("number", "printed", "expected"),
                         [(688, "≪300元/人 /天", "≤300元/人/天"), (764, "≤10000元/ 人/月", "≤10000元/人/月")])
def test_spaces_inside_wrapped_units_removed(number: int, printed: str, expected: str) -> None:
    assert clean_cell(cell("003", number, printed)) == expected


# ---------------------------------------------------------------------------------------------
# Markup and foreign-script junk


@pytest.mark.parametrize(("number", "printed"), [(1691, r"$\geq 95\%$"), (1692, r"$\geq 95\%$")])
def test_latex_comparison_becomes_symbol(number: int, printed: str) -> None:
    assert printed in line("001", number)
    assert clean_cell(printed) == "≥95%"


def test_latex_decoration_is_dropped() -> None:
    repaired = clean_cell(cell("003", 114, "overline"))
    assert "$" not in repaired and "\\" not in repaired and "{" not in repaired


def test_html_paragraph_reduced_to_its_text() -> None:
    printed = cell("001", 858, "<p style")
    repaired = clean_cell(printed)
    assert "<" not in repaired and ">" not in repaired
    assert repaired.startswith("评分满分为100分，预算执行率10分")
    assert repaired.endswith("五级即为60分以下为差。")


def test_html_paragraphs_joined_keep_the_rate_sentence() -> None:
    repaired = clean_cell(cell("001", 1014, "<p>"))
    assert "<" not in repaired
    assert repaired.startswith("项目提供的公共服务质量综合评价表")
    assert repaired.endswith("项目执行率99%，得分9.0")


def test_html_table_reduced_to_its_text() -> None:
    printed = cell("001", 862, "<table")
    repaired = strip_markup(printed)
    assert "<" not in repaired and "style" not in repaired
    assert "崔建光" in repaired and "阳泉市民政局" in repaired


@pytest.mark.parametrize(("number", "printed", "expected"), [
    (657, "<u> </u>", ""),
    (151, "<u>'L')</u>", "'L')"),
])
def test_inline_tags_removed(number: int, printed: str, expected: str) -> None:
    assert clean_cell(cell("003", number, printed)) == expected


@pytest.mark.parametrize(
    ("number", "printed", "expected"),
    [
        (196, "لکید", ""),
        (197, "لإر", ""),
        (781, "المكايد", ""),
        (113, "ᄑᆇ", ""),
        (114, "ו צוד", ""),
        (681, "口言い", "口言"),
        (750, "ﯘ額/实际到位", "额/实际到位"),
        (829, "₹金額×100%)=", "金额×100%)="),
    ],
)
def test_foreign_script_junk_removed(number: int, printed: str, expected: str) -> None:
    assert clean_cell(cell("003", number, printed)) == expected


# ---------------------------------------------------------------------------------------------
# Clean text is left alone


@pytest.mark.parametrize(("doc", "first", "last"), [("000", 517, 566), ("002", 894, 927), ("002", 1065, 1096)])
def test_clean_table_cells_are_unchanged(doc: str, first: int, last: int) -> None:
    changed = [(number, text) for number in range(first, last + 1) for text in line(doc, number).split("\t")
               if clean_cell(text) != text.strip()]
    assert changed == []


@pytest.mark.parametrize("doc", ["000", "002"])
def test_glyph_restoration_leaves_clean_documents_alone(doc: str) -> None:
    changed = [number for number, text in enumerate(lines(doc), 1) if restore_glyphs(text) != text]
    assert changed == []


@pytest.mark.parametrize("doc", ["000", "001", "002", "003"])
def test_cleaning_is_idempotent(doc: str) -> None:
    unstable = [(number, text) for number, raw in enumerate(lines(doc), 1) for text in raw.split("\t")
                if clean_cell(clean_cell(text)) != clean_cell(text)]
    assert unstable == []


def test_lost_slash_in_a_rate_unit_is_restored() -> None:
    """003-T1 (689): "≤180元/天 人" beside "≤180元/天/人": the second slash read as a space."""
    assert clean_cell("≤180元/天 人") == "≤180元/天/人"
    assert clean_cell("12次/年 人") == "12次/年/人"
    assert clean_cell("100元/天 人员") == "100元/天人员", "a word after the unit is not a unit"


def test_decimal_comma_inside_a_value_with_a_unit() -> None:
    """Noise class (--noise, "decimal point read as comma"): "92,77万元", "88, 19万元" are decimals;
    thousands groups, chains such as dates, and bare numbers (read_number flags those) stay."""
    assert clean_cell("92,77万元") == "92.77万元"
    assert clean_cell("=6, 5万元") == "=6.5万元"
    assert clean_cell("120, 7065亩") == "120.7065亩"
    assert clean_cell("64,200元") == "64,200元"
    assert clean_cell("2024, 01, 01至2024, 12, 31") == "2024, 01, 01至2024, 12, 31"
    assert clean_cell("30,01") == "30,01"
