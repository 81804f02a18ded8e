"""One test per error class fixed in the rules extractor, on small tables written like the seeds.

Each table here reproduces one OCR failure seen in the seed documents (line
references in the docstrings); the test fails if the fix is taken out.
"""

from __future__ import annotations

from extract.pipeline import extract_text
from schemas.record import Record

T = "\t"


def _city_table(indicator_rows: list[str], *, head: list[str] | None = None, tail: list[str] | None = None) -> str:
    lines = [
        "附件1", "", "阳泉市项目支出绩效自评表", "", "填报日期：2025.4.14", "",
        T.join(["项目名称", "", "测试项目经费", "", ""]),
        T.join(["项目负责人", "", "张三", "", "联系电话", "2298168"]),
        T.join(["主管部门", "", "阳泉市民政局", "", "实施单位", "阳泉市民政局"]),
        T.join(["项目起止时间", "", "2024.1.1—2024.12.31", "", "绩效自评评价年度", "2024年度"]),
        T.join(["项目预算金额（万元）", "", "8", "实际到位金额（万元）", "8", "实际执行金额（万元）", "8"]),
        T.join(["市财政", "", "8", "市财政", "8", "市财政", "8"]),
        *(head or [T.join(["项目预期绩效目标", "项目提供的公共产品和服务的数量", "完成核对工作。"]),
                   T.join(["", "项目效果", "保障运转。"])]),
        T.join(["项目执行情况（10分）", "", "预算执行率为100% 自评得分为10分"]),
        T.join(["绩效目标自评情况", "", ""]),
        T.join(["", "一级指标", "二级指标", "三级指标", "年度指标值", "全年完成值", "未完成原因和改进措施", "自评得分"]),
        *indicator_rows,
        *(tail or [T.join(["总分", "", "", "", "", "", "100"])]),
        T.join(["自评结论及结果分析", "", "本项目自评100分，等级为优。"]),
    ]
    return "\n".join(lines) + "\n"


def _one(text: str) -> Record:
    results = extract_text(text, "test.txt")
    records = [result for result in results if isinstance(result, Record)]
    assert len(records) == 1, results
    return records[0]


_STANDARD_ROWS = [
    T.join(["绩效指标", "产出指标（50分）", "数量指标", "指标1", "核对批次", "≥30批次", "≥30批次", "", "50"]),
    T.join(["", "", "质量指标", "指标1", "认定准确率", "≥90%", "≥90%", ""]),
    T.join(["", "效益指标（30分）", "社会效益指标", "指标1", "保障运转", "保障", "保障", "", "30"]),
    T.join(["满意度指标（10分）", "服务对象满意度指标", "指标1", "救助家庭满意度", "≥90%", "≥90%", "10"]),
]


def test_standard_city_table_reads_categories_and_subtotals() -> None:
    record = _one(_city_table(_STANDARD_ROWS))
    assert [(i.level1, i.level2, i.name) for i in record.indicators] == [
        ("产出指标", "数量指标", "核对批次"), ("产出指标", "质量指标", "认定准确率"),
        ("效益指标", "社会效益指标", "保障运转"), ("满意度指标", "服务对象满意度指标", "救助家庭满意度")]
    assert [(c.level1, c.weight, c.score) for c in record.category_scores] == [
        ("产出指标", 50, 50), ("效益指标", 30, 30), ("满意度指标", 10, 10)]


def test_header_split_by_page_break_watermarks_is_one_table() -> None:
    """001 under noise: watermark pairs between header rows must not split the header block."""
    text = _city_table(_STANDARD_ROWS).replace(
        "项目负责人", "仅供内部审核\n\n又供内部軍核\n项目负责人", 1)
    results = extract_text(text, "test.txt")
    assert len([r for r in results if isinstance(r, Record)]) == 1


def test_level2_label_on_second_row_of_its_group() -> None:
    """001-T18 (1705…1717): every level2 label sits on the 2nd row of its pair."""
    rows = [
        T.join(["绩效指标", "产出指标（50分）", "", "指标1", "核对批次", "≥30批次", "≥30批次", "", "50"]),
        T.join(["", "", "数量指标", "指标2", "培训次数", "≥1次", "≥1次", ""]),
        T.join(["", "", "", "指标1", "认定准确率", "≥90%", "≥90%", ""]),
        T.join(["", "", "质量指标", "指标2", "运转率", "≥95%", "≥95%", ""]),
    ]
    record = _one(_city_table(rows))
    assert [i.level2 for i in record.indicators] == ["数量指标", "数量指标", "质量指标", "质量指标"]


def test_unlabelled_group_after_numbering_restart_takes_next_category_and_is_flagged() -> None:
    """001-T19 (1766): the 成本指标 label is lost; 指标1 restarts after 时效指标."""
    rows = [
        T.join(["绩效指标", "产出指标（50分）", "时效指标", "指标1", "反馈时间", "≤30天", "≤30天", "", "50"]),
        T.join(["", "", "", "指标1", "网络维护", "≤10万", "0", ""]),
    ]
    record = _one(_city_table(rows))
    assert record.indicators[1].level2 == "成本指标"
    assert any("indicators[1].level2" in flag.fields for flag in record.flags)


def test_subtotal_printed_on_the_row_above_its_block_moves_to_that_block() -> None:
    """001-T19 (1765): the 效益 subtotal 30 sits on the 时效 row of the 产出 block."""
    rows = [
        T.join(["绩效指标", "产出指标（50分）", "数量指标", "指标1", "核对批次", "≥30批次", "≥30批次", "", "48"]),
        T.join(["", "", "时效指标", "指标1", "反馈时间", "≤30天", "≤30天", "", "30"]),
        T.join(["", "效益指标（30分）", "社会效益指标", "指标1", "保障运转", "保障", "保障", ""]),
    ]
    record = _one(_city_table(rows))
    assert [(c.level1, c.score) for c in record.category_scores] == [("产出指标", 48), ("效益指标", 30)]


def test_fused_level1_and_level2_in_one_cell() -> None:
    """001-T1 (657): "产出指标 数量指标" in one cell, the weight on 绩效指标."""
    rows = [T.join(["绩效指标 (50分)", "产出指标 数量指标", "指标1", "网站维护", "依据合同", "完成", "49"])]
    record = _one(_city_table(rows))
    assert (record.indicators[0].level1, record.indicators[0].level2) == ("产出指标", "数量指标")
    assert record.category_scores[0].weight == 50


def test_rows_after_total_in_reverse_order_are_read_back() -> None:
    """003-T3 (849–865): a page read bottom-up puts 总分 before the last indicator rows."""
    rows = [T.join(["绩效指标", "产出指标（50分）", "数量指标", "指标1", "核对批次", "≥30批次", "≥30批次", "", "50"])]
    tail = [
        T.join(["总分", "", "", "", "", "", "100"]),
        T.join(["满意度指标（10分）", "服务对象满意度指标", "指标2", "职工满意度", "≥90%", "≥90%", "10"]),
        T.join(["", "", "指标1", "群众满意度", "≥95%", "≥95%", ""]),
    ]
    record = _one(_city_table(rows, tail=tail))
    assert [i.name for i in record.indicators] == ["核对批次", "群众满意度", "职工满意度"]
    assert any(flag.rule == "extract-reversed-rows" for flag in record.flags)


def test_invented_goal_labels_place_texts_by_order() -> None:
    """001-T3 (764–765): the goal rows carry labels the form does not have."""
    head = [T.join(["项目概况及主要服务的受益对象", "面向社会公众提供养老服务的平台。"]),
            T.join(["项目预期完成目标", "平台正常运行，全程监管710户。"])]
    record = _one(_city_table(_STANDARD_ROWS, head=head))
    assert record.goals.output == "面向社会公众提供养老服务的平台。"
    assert record.goals.effect == "平台正常运行，全程监管710户。"


def test_effect_label_inside_the_output_paragraphs_splits_them() -> None:
    """001-T15 (1460): <p> paragraphs in the goal cell hold the 项目效果 label."""
    head = [T.join(["项目预期绩效目标", "项目提供的公共产品和服务的数量",
                    "<p>1.组织培训4场。</p><p>项目效果：提高了考试通过率。</p>"])]
    record = _one(_city_table(_STANDARD_ROWS, head=head))
    assert record.goals.output == "1.组织培训4场。"
    assert record.goals.effect == "提高了考试通过率。"


def test_name_fused_with_target_is_split() -> None:
    """001-T13 (1361): "入住老人满意度 ≥90%" in one cell pushes the row left."""
    rows = [T.join(["满意度指标（10分）", "服务对象满意度指标", "指标1", "入住老人满意度 ≥90%", "95%", "已完成", "10"])]
    record = _one(_city_table(rows))
    indicator = record.indicators[0]
    assert (indicator.name, indicator.target, indicator.actual, indicator.note) == \
        ("入住老人满意度", "≥90%", "95%", "已完成")


def test_value_split_over_cells_and_junk_before_a_name() -> None:
    """003-T1 (659–660): "主 | 管部门 | 1 | 阳泉市财政局" and "2024. | 01. 012024. 12. 31"."""
    text = _city_table(_STANDARD_ROWS)
    text = text.replace(T.join(["主管部门", "", "阳泉市民政局", "", "实施单位", "阳泉市民政局"]),
                        T.join(["主", "管部门", "1", "阳泉市财政局", "实施单位", "阳泉市民政局"]))
    text = text.replace("2024.1.1—2024.12.31", "2024.\t01. 012024. 12. 31")
    record = _one(text)
    assert record.department == "阳泉市财政局"
    assert record.period == "2024.01.01—2024.12.31"


def test_decimal_comma_with_a_space_is_read_and_cross_checked() -> None:
    """002-P17 under noise (1073): "14, 256" beside "142560元" is 14.256万元, not a crash."""
    lines = [
        "临时工工资项目支出绩效自评表", "(2024年度)",
        T.join(["项目名称", "", "临时工工资"]),
        T.join(["主管部门及代码", "", "407-汾阳市人力资源和社会保障局", "", "预算单位", "407002-汾阳市社会保险中心"]),
        T.join(["项目资金预算安排及执行进度(万元)", "", "年初预算数", "", "全年预算数", "全年执行数", "资金结(转)余",
                "执行率", "得分"]),
        T.join(["", "", "目标申报数", "预算编制数"]),
        T.join(["", "", "资金总额:", "14, 256", "14,256", "14,256", "14,256", "0", "100", "10"]),
        T.join(["项目年度绩效目标", "", "年度目标", "", "实际完成情况"]),
        T.join(["", "", "按时发放。", "", "临时工工资142560元已全部支付。"]),
        T.join(["绩效指标", "一级指标", "二级指标", "三级指标", "年初指标值", "调整后指标值", "实际完成值",
                "定性指标情况说明", "分值", "得分", "偏差原因分析及改进措施"]),
        T.join(["", "产出指标", "数量指标", "临时工人数", "=人", "=6人", "=6人", "", "90", "90"]),
        T.join(["总分", "", "", "", "", "", "", "", "", "100", "优"]),
    ]
    record = _one("\n".join(lines) + "\n")
    assert record.funds.planned.total == 14.256
    assert any("funds.planned.total" in flag.fields and flag.rule == "extract-ambiguous-number"
               for flag in record.flags)


def test_level1_label_printed_mid_group_does_not_split_the_group() -> None:
    """003-T2 (756–760): 产出指标 (50分) sits on 指标4 of the 质量 group (labels vertically centred)."""
    rows = [
        T.join(["", "", "数量指标", "指标1", "聘用人员人数", "21人", "21人", "已完成"]),
        T.join(["", "", "", "指标1", "保险应缴尽缴率", "100%", "100%", "已完成"]),
        T.join(["", "", "质量指标", "指标2", "验收合格率", ">95%", ">95%", "已完成"]),
        T.join(["", "产出指标", "", "指标3", "发放对象的精准率", "≥95%", "≥95%", "已完成", "50"]),
        T.join(["", "(50分)", "", "指标4", "任务完成率", "≥95%", "≥95%", "已完成"]),
    ]
    record = _one(_city_table(rows))
    assert [i.level2 for i in record.indicators] == ["数量指标", "质量指标", "质量指标", "质量指标", "质量指标"]


def _flag_messages(record: Record, path: str) -> list[str]:
    return [flag.message for flag in record.flags if path in flag.fields]


def test_total_score_on_its_own_line_below_the_total_label() -> None:
    """001-T5 (919–921): "总 分" and "91" on separate lines, a watermark pair between them."""
    tail = [T.join(["总 分"]), "", "仅供内部审核", "", "91", ""]
    record = _one(_city_table(_STANDARD_ROWS, tail=tail))
    assert record.total_score == 91
    assert "total_score" in record.evidence


def test_row_that_only_repeats_a_category_label_is_not_an_indicator() -> None:
    """001-T5 (910–911): "生态效益指标 指标1 生态效益指标" with no values is a label, not an indicator;
    a named indicator without values ("合格率(%)", 001-T10) is still kept."""
    rows = [*_STANDARD_ROWS[:3],
            T.join(["", "", "生态效益指标", "指标1", "生态效益指标", "", "", ""]),
            T.join(["", "", "", "指标2", "合格率(%)", "", "", ""]),
            _STANDARD_ROWS[3]]
    record = _one(_city_table(rows))
    assert [i.name for i in record.indicators] == ["核对批次", "认定准确率", "保障运转", "合格率(%)", "救助家庭满意度"]
    assert any(flag.rule == "extract-skipped-row" and "生态效益指标" in flag.message for flag in record.flags)


def test_invented_or_contradicting_level1_labels_flag_the_level1() -> None:
    """001-T5 (903–912): "基本指标 (30分)" is no category of the form, and "效益指标 (30分)" is
    printed beside 时效性; the level1 read from the 二级指标 must carry a flag, not pass silently."""
    rows = [
        T.join(["基本指标 (30分)", "社会效益", "指标1", "居家照护人数", "1300人", "109人", "", "43"]),
        T.join(["效益指标 (30分)", "时效性", "指标1", "服务及时性", ">95%", "99%", "", "30"]),
        T.join(["满意度指标（10分）", "服务对象满意度指标", "指标1", "老年人满意度", ">90%", "90%", "10"]),
    ]
    record = _one(_city_table(rows))
    assert [i.level1 for i in record.indicators] == ["效益指标", "产出指标", "满意度指标"]
    assert any("基本指标" in message for message in _flag_messages(record, "indicators[0].level1"))
    assert any("disagree" in message for message in _flag_messages(record, "indicators[1].level1"))
    assert not _flag_messages(record, "indicators[2].level1")


def test_organisation_under_the_project_name_label_is_the_department() -> None:
    """001-T7 (947–949): the name is on an unlabeled row and "项目名称 阳泉市民政局" is really 主管部门."""
    head_rows = _city_table(_STANDARD_ROWS).splitlines()
    text = "\n".join(
        [T.join(["城乡养老服务和老年助餐工程", "", ""]) if line.startswith("项目名称") else
         T.join(["项目名称", "", "阳泉市民政局", "", "实施单位", "阳泉市民政局"]) if line.startswith("主管部门") else line
         for line in head_rows]) + "\n"
    record = _one(text)
    assert record.project_name == "城乡养老服务和老年助餐工程"
    assert record.department == "阳泉市民政局"
    assert _flag_messages(record, "department") and _flag_messages(record, "project_name")


def test_value_under_a_label_known_only_by_its_wording_is_flagged() -> None:
    """003-T2 (792): "在问题与 E改措施" is a garbled 存在问题与整改措施; the text under it is read and flagged."""
    record = _one(_city_table(_STANDARD_ROWS) + T.join(["", "在问题与 E改措施", "存在问题: 缺乏培训。", "整改措施。建立培训机制。"]) + "\n")
    assert record.narrative.problems == "存在问题: 缺乏培训。整改措施。建立培训机制。"
    assert any(flag.rule == "extract-unknown-label" for flag in record.flags if "narrative.problems" in flag.fields)
    assert not any(flag.rule == "extract-unknown-label" for flag in record.flags if "narrative.conclusion" in flag.fields)


def test_name_fused_with_a_worded_target_is_split_at_the_raw_space() -> None:
    """001-T13 (1360): "…质量和 显著提高 | 完成 | 已完成": cleaning joins the two words, the raw line keeps
    the space, and the row pushed left (status word last) says a target was fused into the name."""
    rows = [*_STANDARD_ROWS[:3],
            T.join(["", "", "可持续影响指标", "指标1", "养老服务质量和 显著提高", "完成", "已完成", ""]),
            _STANDARD_ROWS[3]]
    record = _one(_city_table(rows))
    fused = record.indicators[3]
    assert (fused.name, fused.target, fused.actual, fused.note) == ("养老服务质量和", "显著提高", "完成", "已完成")
    plain = _one(_city_table([*_STANDARD_ROWS[:3], T.join(["", "", "可持续影响指标", "指标1", "服务 质量", "提高", "提高", ""]),
                              _STANDARD_ROWS[3]]))
    assert plain.indicators[3].name == "服务质量", "a row that is not pushed left keeps its name whole"


def test_actual_one_cell_to_the_right_is_read_as_actual_and_flagged() -> None:
    """001-T18 (1768): "…数据 | 保障 | | 保障": the 全年完成值 sits in the 未完成原因 column."""
    rows = [*_STANDARD_ROWS[:2],
            T.join(["", "效益指标（30分）", "社会效益指标", "指标1", "保障运转", "保障", "", "保障", "30"]),
            _STANDARD_ROWS[3]]
    record = _one(_city_table(rows))
    shifted = record.indicators[2]
    assert (shifted.target, shifted.actual, shifted.note) == ("保障", "保障", None)
    assert _flag_messages(record, "indicators[2].actual")
    reason = _one(_city_table([*_STANDARD_ROWS[:2], T.join(["", "效益指标（30分）", "社会效益指标", "指标1", "保障运转", "保障", "",
                                                          "系统建设中", "30"]), _STANDARD_ROWS[3]]))
    assert (reason.indicators[2].actual, reason.indicators[2].note) == (None, "系统建设中")


def test_first_block_label_and_subtotal_fused_into_the_header_row() -> None:
    """001-T2 (715): "绩效 | 产出指标 (50分) | 二级指标 | … | 自评得分 45": the header carries the first block."""
    text = _city_table([
        T.join(["", "", "数量指标", "指标1", "核对批次", "≥30批次", "≥30批次", ""]),
        T.join(["", "", "质量指标", "指标1", "认定准确率", "≥90%", "≥90%", ""]),
        *_STANDARD_ROWS[2:]])
    text = text.replace(T.join(["", "一级指标", "二级指标", "三级指标", "年度指标值", "全年完成值", "未完成原因和改进措施", "自评得分"]),
                        T.join(["绩效", "产出指标 (50分)", "二级指标", "三级指标", "年度指标值", "全年完成值", "未完成原因和改进措施",
                                "自评得分 45"]))
    record = _one(text)
    assert [(c.level1, c.weight, c.score) for c in record.category_scores] == [
        ("产出指标", 50, 45), ("效益指标", 30, 30), ("满意度指标", 10, 10)]
    assert [i.level1 for i in record.indicators[:2]] == ["产出指标", "产出指标"]


def test_header_invented_from_category_names_opens_no_block() -> None:
    """001-T10 (1078): "效益指标 (30分) | 数量指标 | 预期指标 | 年度指标值 …" is an invented header, not a block."""
    text = _city_table(_STANDARD_ROWS).replace(
        T.join(["", "一级指标", "二级指标", "三级指标", "年度指标值", "全年完成值", "未完成原因和改进措施", "自评得分"]),
        T.join(["效益指标 (30分)", "数量指标", "预期指标", "年度指标值", "全年完成值", "未完成原因和改进措施"]))
    record = _one(text)
    assert record.indicators[0].level1 == "产出指标"
    assert [c.level1 for c in record.category_scores] == ["产出指标", "效益指标", "满意度指标"]


def test_empty_labelled_group_does_not_lend_its_label_to_the_next_group() -> None:
    """001-T18 (1704–1708): an empty pair "指标1 | 效益指标 (30分) 经济效益指标 指标2" before
    "指标1 name | 社会效益指标 指标2 name": the named rows are 社会效益, the labels sit on 指标2."""
    rows = [*_STANDARD_ROWS[:2],
            T.join(["", "", "", "指标1", "", "", "", "", "30"]),
            T.join(["", "效益指标（30分）", "经济效益指标", "指标2", "", "", "", ""]),
            T.join(["", "", "", "指标1", "树立文明意识", "树立", "树立", "已完成"]),
            T.join(["", "", "社会效益指标", "指标2", "推行文明殡葬", "逐步提升", "逐步提升", "已完成"]),
            _STANDARD_ROWS[3]]
    record = _one(_city_table(rows))
    assert [(i.name, i.level1, i.level2) for i in record.indicators[2:4]] == [
        ("树立文明意识", "效益指标", "社会效益指标"), ("推行文明殡葬", "效益指标", "社会效益指标")]


def test_categories_running_backwards_flag_level1_and_level2() -> None:
    """001-T5 (903–906): rows read as 效益 come before rows read as 产出; the labels were invented,
    so the level2 of those rows is in doubt too, not only the level1."""
    rows = [
        T.join(["基本指标 (30分)", "社会效益", "指标1", "居家照护人数", "1300人", "109人", "", "43"]),
        T.join(["", "时效性", "指标1", "服务及时性", ">95%", "99%", ""]),
        T.join(["满意度指标（10分）", "服务对象满意度指标", "指标1", "老年人满意度", ">90%", "90%", "10"]),
    ]
    record = _one(_city_table(rows))
    assert [i.level1 for i in record.indicators] == ["效益指标", "产出指标", "满意度指标"]
    assert any("order" in message for message in _flag_messages(record, "indicators[0].level2"))
    assert any("order" in message for message in _flag_messages(record, "indicators[1].level2"))
    assert not _flag_messages(record, "indicators[2].level2")
    standard = _one(_city_table(_STANDARD_ROWS))
    assert not any("order" in flag.message for flag in standard.flags)


def test_execution_label_on_the_goal_row_and_its_statement_below() -> None:
    """001-T21 (1922–1923): "项目执行情况 (10分) | 项目效果 | text", then the statement
    "2024年预算执行率100%（…）" alone on the next row."""
    head = [T.join(["项目预期绩效目标", "项目提供的公共产品和服务的数量", "完成核对工作。"]),
            T.join(["项目执行情况（10分）", "项目效果", "保障核对系统正常运转。"])]
    text = _city_table(_STANDARD_ROWS, head=head).replace(
        T.join(["项目执行情况（10分）", "", "预算执行率为100% 自评得分为10分"]),
        "2024年预算执行率100%（实际执行金额/实际到位金额×100%）")
    record = _one(text)
    assert record.goals.effect == "保障核对系统正常运转。"
    assert (record.execution_rate, record.execution_weight) == (100, 10)
    assert record.evidence["execution_weight"].text.startswith("项目执行情况")


def test_unseen_goal_label_before_a_colon_opens_a_long_cell() -> None:
    """001-T16 (1531) held out: "项目提供的公共产品和数量：<long text>" with a label no variant knows."""
    head = [T.join(["项目预期绩效目标", ("项目提供的公共产品情况：执法检查，弥补基本经费不足。办公费6510元，劳务费24720元，"
                                          "公务用车维修维护费6000元。")]),
            T.join(["", "项目效果", "保障运转。"])]
    record = _one(_city_table(_STANDARD_ROWS, head=head))
    assert record.goals.output == "执法检查，弥补基本经费不足。办公费6510元，劳务费24720元，公务用车维修维护费6000元。"
    assert any(flag.rule == "extract-unknown-label" for flag in record.flags if "goals.output" in flag.fields)


def test_unseen_label_at_the_end_of_a_fused_label_run() -> None:
    """001-T4 (819) held out: "项目名称 项目负责人 主要承担部门" fuses three labels, the last unseen."""
    text = _city_table(_STANDARD_ROWS).replace(
        T.join(["主管部门", "", "阳泉市民政局", "", "实施单位", "阳泉市民政局"]),
        T.join(["项目名称 项目负责人 主要承办部门", "", "阳泉市民政局", "", "实施单位", "阳泉市民政局"]))
    record = _one(text)
    assert record.department == "阳泉市民政局"
