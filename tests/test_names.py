"""Known names: harvested from the seed documents' own lines, and used to complete damaged names."""

from __future__ import annotations

from pathlib import Path

import pytest

from extract.names import (
    KnownNames,
    KnownNamesError,
    canonicalise_names,
    harvest_known_names,
    load_known_names,
    match_name,
)
from schemas.record import Evidence, Record, Source

DOCS = Path(__file__).resolve().parents[1] / "eval" / "docs"
FULL_003 = "阳泉市财政预算评审中心(阳泉市政府和社会资本合作中心、阳泉市数字财政管理中心)"


def doc_lines(name: str) -> list[str]:
    return (DOCS / name).read_text(encoding="utf-8").split("\n")


@pytest.fixture(scope="module")
def known_001() -> KnownNames:
    return harvest_known_names(doc_lines("001_fe13dc1954f10c91.part-a.txt"))


@pytest.fixture(scope="module")
def known_002() -> KnownNames:
    return harvest_known_names(doc_lines("002_df651f07c846b8e4.txt"))


@pytest.fixture(scope="module")
def known_003() -> KnownNames:
    return harvest_known_names(doc_lines("003_8f17777081bc2c59.part-a.txt"))


def record(**fields) -> Record:
    return Record(source=Source(doc="x.txt", start_line=1, end_line=2), template="city-project", **fields)


# ---------------------------------------------------------------------------------------------- harvest


def test_harvest_reads_header_labels_and_codes(known_001, known_002):
    minzheng = known_001.by_key["阳泉市民政局"]
    assert minzheng.code == "064" and minzheng.stated and 3 in minzheng.lines  # 001:3 header, 704 "064-…"
    assert {"阳泉市社会福利院", "阳泉市民政事务中心", "阳泉市老年颐养中心", "阳泉市殡葬服务中心",
            "阳泉市城乡居民最低生活保障管理中心"} <= set(known_001.names())
    names_002 = {known.name: known.code for known in known_002}
    assert names_002["汾阳市人力资源和社会保障局"] == "407"
    assert names_002["汾阳市社会保险中心"] == "407002"


def test_harvest_skips_truncated_and_watermarked_names(known_002, known_003):
    # 002:340 "部门名称：汾阳市社会" (the rest is on the next line) is not a name.
    assert "汾阳市社会" not in known_002.names()
    # 003:520 "阳泉市财政预以供内部铺材算评审中心": watermark inside a name.
    assert not any("供内部" in name for name in known_003.names())


def test_harvest_prefers_the_most_printed_spelling(known_003):
    # 003:79 prints an ASCII comma, 003:7/67/320 print 、 – one name, shown as most printed.
    full = [known for known in known_003 if known.name.startswith("阳泉市财政预算评审中心(")]
    assert len(full) == 1
    assert full[0].name == FULL_003 and {7, 79, 320} <= set(full[0].lines)
    # 003:453 "阳泉市 教之财政管理中心", seen once, is an OCR variant of it.
    assert not any("教之" in name for name in known_003.names())


# ---------------------------------------------------------------------------------------------- matching


def test_a_truncated_department_is_completed(known_001):
    # 001-T20 (1805): 主管部门 "民政局".
    damaged = record(department="民政局", evidence={"department": Evidence(line=1805, text="主管部门\t民政局")})
    fixed = canonicalise_names(damaged, known_001)
    assert fixed.department == "阳泉市民政局"
    assert fixed.flags == []
    assert "民政局" in fixed.evidence["department"].text and "阳泉市民政局" in fixed.evidence["department"].text
    assert fixed.evidence["department"].line == 1805
    assert damaged.department == "民政局"  # a new record, the input unchanged


@pytest.mark.parametrize("printed", [
    "阳泉市财政预算评审中心(阳) 作中心、阳泉市数字则",   # 003:659
    "阳泉市财政预算评审中心(阳县 作中心、阳泉市数字财",  # 003:741
    "阳泉市财政预算设平审中心",                         # 003:820, cells joined
])
def test_garbled_unit_names_of_003_are_completed(known_003, printed):
    fixed = canonicalise_names(record(implementing_unit=printed), known_003)
    assert fixed.implementing_unit == FULL_003
    assert fixed.flags == []
    assert printed in fixed.evidence["implementing_unit"].text  # no evidence before: the note points at the header


def test_a_misread_glyph_is_repaired(known_001):
    # 001:1284 "阳泉市老华颐养中心": 华 for 年.
    assert canonicalise_names(record(implementing_unit="阳泉市老华颐养中心"), known_001).implementing_unit == \
        "阳泉市老年颐养中心"


def test_an_exact_name_is_left_alone(known_001):
    fixed = canonicalise_names(record(department="阳泉市民政局", implementing_unit="阳泉市殡葬服务中心"), known_001)
    assert (fixed.department, fixed.implementing_unit, fixed.flags) == ("阳泉市民政局", "阳泉市殡葬服务中心", [])


def test_an_ambiguous_name_is_kept_and_flagged_weak(known_001):
    # Equally close to 阳泉市老年颐养中心 and 阳泉市殡葬服务中心.
    fixed = canonicalise_names(record(implementing_unit="阳泉市老年服务中心"), known_001)
    assert fixed.implementing_unit == "阳泉市老年服务中心"
    assert [(f.rule, f.severity) for f in fixed.flags] == [("name-weak-match", "warning")]


def test_a_name_from_elsewhere_is_flagged_unknown(known_001):
    # 001:1096 mentions 石狮市, a city in another province.
    fixed = canonicalise_names(record(department="石狮市民政局"), known_001)
    assert fixed.department == "石狮市民政局"
    assert [f.rule for f in fixed.flags] == ["name-unknown"]
    assert match_name("项目名称", known_001) is None  # 001:949, a label in the department slot


def test_a_code_the_document_contradicts_is_flagged(known_002):
    # 002:1034 "401-汾阳市人力资源和社会保障": code 401 (407 elsewhere) and 局 cut off.
    fixed = canonicalise_names(record(department="汾阳市人力资源和社会保障", department_code="401"), known_002)
    assert fixed.department == "汾阳市人力资源和社会保障局"
    assert fixed.department_code == "401"  # codes stay as printed
    assert [f.rule for f in fixed.flags] == ["name-code-mismatch"]


def test_canonicalise_is_idempotent(known_001):
    once = canonicalise_names(record(implementing_unit="阳泉市老年服务中心", department="民政局"), known_001)
    assert canonicalise_names(once, known_001).flags == once.flags


def test_no_known_names_changes_nothing():
    original = record(department="民政局")
    assert canonicalise_names(original, KnownNames()) == original


# ---------------------------------------------------------------------------------------------- user list


def test_user_list_lines_and_csv(tmp_path):
    path = tmp_path / "names.csv"
    path.write_text("name,code\n阳泉市民政局,064\n# a comment\n阳泉市社会福利院\n", encoding="utf-8")
    known = load_known_names(path)
    assert {k.name: k.code for k in known} == {"阳泉市民政局": "064", "阳泉市社会福利院": None}
    fixed = canonicalise_names(record(department="民政局"), known)
    assert fixed.department == "阳泉市民政局"


def test_user_list_merges_with_the_document(tmp_path, known_003):
    path = tmp_path / "names.txt"
    path.write_text("阳泉市财政局\n山西省财政厅\n", encoding="utf-8")
    merged = known_003.merged(load_known_names(path))
    assert "山西省财政厅" in merged.names() and FULL_003 in merged.names()
    assert merged.by_key["阳泉市财政局"].stated


@pytest.mark.parametrize("content, message", [(None, "no such file"), (b"\xff\xfe\x00bad", "not UTF-8"),
                                              ("阳泉市民政局,06 4\n".encode(), "not a code")])
def test_user_list_errors_are_one_line(tmp_path, content, message):
    path = tmp_path / "names.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(KnownNamesError, match=message) as caught:
        load_known_names(path)
    assert "\n" not in str(caught.value)
