"""Text repairs for OCR output: watermark residue, markup, glyph variants, spacing.

Pure string functions, shared by the segmenter (which must see through the
noise to find titles) and the cleaner (which repairs every cell).
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

HAN = r"\u3400-\u4dbf\u4e00-\u9fff"
_CJK_PUNCT = "，。、；：？！（）【】《》“”‘’"

# Watermark 仅供内部审核 and the garbled forms OCR made of it.
_WATERMARK_CORE = re.compile(r"[仅及又以风发过人]?[供烘拱][内为伪]部[\S]{0,2}")
_WATERMARK_GLYPHS = set("軍單庫權隊於籍铺林群模核样材實質榜校障库审")
_WATERMARK_TARGET = "仅供内部审核"
_WATERMARK_HINTS = frozenset("供烘拱内部为伪")

_TAG = re.compile(r"<\s*/?\s*([a-zA-Z][a-zA-Z0-9]*)[^<>]*>")
_BLOCK_TAGS = {"p", "br", "tr", "li", "div", "table", "ul", "ol", "th", "td"}
_LATEX = [
    (re.compile(r"\\(?:geqslant|geq|ge|succeq)(?![a-zA-Z])\s*"), "≥"),
    (re.compile(r"\\(?:leqslant|leq|le|preceq)(?![a-zA-Z])\s*"), "≤"),
    (re.compile(r"\\(?:gt)(?![a-zA-Z])\s*"), ">"),
    (re.compile(r"\\(?:lt)(?![a-zA-Z])\s*"), "<"),
    (re.compile(r"\\(?:times)(?![a-zA-Z])\s*"), "×"),
    (re.compile(r"\\(?:sim)(?![a-zA-Z])\s*"), "~"),
    (re.compile(r"\\(?:pm)(?![a-zA-Z])\s*"), "±"),
    (re.compile(r"\s*\\%"), "%"),
    (re.compile(r"\\(?:mathbf|mathrm|overline|text|textbf|operatorname)\s*"), ""),
    (re.compile(r"[${}]|\^|_(?=\{)"), ""),
]
_SYMBOLS = str.maketrans({"≪": "≤", "≫": "≥", "≦": "≤", "≧": "≥", "﹤": "<", "﹥": ">", "＝": "="})
_SPLIT_DECIMAL = re.compile(r"(?<=\d)\.\s+(?=\d)|(?<=\d)\s+\.(?=\d)")
_SPACE_BETWEEN_HAN = re.compile(rf"(?<=[{HAN}{_CJK_PUNCT}])[ \u3000]+(?=[{HAN}{_CJK_PUNCT}])")
_SPACE_AFTER_OPERATOR = re.compile(r"(?<=[≥≤<>=])[ \u3000]+(?=[\d.])")
_FOREIGN_SCRIPT = re.compile(r"[\u0590-\u06ff\u0750-\u08ff\ufb50-\ufdff\ufe70-\ufeff\u1100-\u11ff\u3040-\u30ff\u20b9]+")


def is_watermark(text: str) -> bool:
    """True for a cell or line that holds nothing but watermark residue."""
    if len(text) > 24 or _WATERMARK_HINTS.isdisjoint(text):
        return False
    compact = re.sub(r"\s+", "", text)
    if not compact or len(compact) > 8:
        return False
    if _WATERMARK_CORE.fullmatch(compact) or _WATERMARK_CORE.match(compact) and len(compact) <= 7:
        return True
    marks = sum(char in "供内部" for char in compact)
    glyphs = sum(char in _WATERMARK_GLYPHS for char in compact)
    if len(compact) <= 6 and (marks >= 2 or (marks >= 1 and glyphs >= 1)):
        from rapidfuzz.distance import Levenshtein

        return Levenshtein.distance(compact, _WATERMARK_TARGET) <= 4
    return False


def strip_watermark_fragments(text: str) -> str:
    """Remove watermark residue inside running text (it sits between spaces)."""
    if "部" not in text:
        return text
    return _WATERMARK_CORE.sub(lambda m: "" if _is_fragment(m.group(0)) else m.group(0), text)


def _is_fragment(found: str) -> bool:
    return found[-1:] in _WATERMARK_GLYPHS or found.endswith(("审核", "审", "内部")) or len(found) <= 4


def strip_markup(text: str) -> str:
    """HTML and LaTeX the OCR model wrote around cell text, reduced to the text."""
    if "<" in text and ">" in text:
        text = _TAG.sub(lambda m: "\n" if m.group(1).lower() in _BLOCK_TAGS else "", text)
        text = html.unescape(text)
        text = re.sub(r"\s*\n\s*", "", text).strip()
    if "\\" in text or "$" in text:
        for pattern, replacement in _LATEX:
            text = pattern.sub(replacement, text)
    return text


@lru_cache(maxsize=1)
def _converters():
    import opencc

    return opencc.OpenCC("jp2t"), opencc.OpenCC("t2s")


@lru_cache(maxsize=65536)
def _simplified(char: str) -> str:
    """The simplified form of a variant/traditional glyph, or the glyph itself.

    Only glyphs outside GB2312 (the simplified repertoire these documents are
    printed in) are converted, so a correct simplified text is never changed.
    """
    try:
        char.encode("gb2312")
        return char
    except UnicodeEncodeError:
        pass
    japanese_to_traditional, traditional_to_simplified = _converters()
    converted = traditional_to_simplified.convert(char)
    if converted == char:
        converted = traditional_to_simplified.convert(japanese_to_traditional.convert(char))
    return converted if len(converted) == 1 and _in_gb2312(converted) else char


def _in_gb2312(char: str) -> bool:
    try:
        char.encode("gb2312")
        return True
    except UnicodeEncodeError:
        return False


_CONTEXT_GLYPHS = [
    (re.compile(r"己(?=完成|达到|达成|实现|按时|按期|全部|到位|发放|督促|经|拨付|支付|落实|下达|开展|建成|纳入|制定|印发"
                r"|整改|完善|通过|签订|办结|结清|提交|上报|启动|验收|投入|使用|收回)"), "已"),
    (re.compile(r"对效(?=指标)"), "时效"),
]
"""Look-alike glyphs that are real characters elsewhere, repaired only in the context that betrays them."""


def restore_glyphs(text: str) -> str:
    text = text.translate(_SYMBOLS)
    if not text.isascii():
        try:
            text.encode("gb2312")
        except UnicodeEncodeError:
            text = "".join(_simplified(char) if ord(char) > 0x2e80 else char for char in text)
    for pattern, replacement in _CONTEXT_GLYPHS:
        text = pattern.sub(replacement, text)
    return text


_SPACE_AROUND_SLASH = re.compile(rf"(?<=[{HAN}\d%])[ \u3000]*/[ \u3000]*(?=[{HAN}\d])|(?<=[{HAN}\d%])[ \u3000]+/(?=[{HAN}])")
_SPACE_AFTER_LIST_NUMBER = re.compile(rf"(?<=\d[.、])[ \u3000]+(?=[{HAN}])")
_LOST_UNIT_SLASH = re.compile(rf"(?<=\d[{HAN}]/[{HAN}])[ \u3000]+(?=[{HAN}]$)")
""""≤180元/天 人": a rate unit (元/天/人) whose second slash the OCR read as a space."""


_COMMA_BETWEEN_DIGITS = re.compile(r"\d+(?:[,，][ \u3000]?\d+)+")


def _decimal_comma(found: re.Match[str]) -> str:
    """"92,77万元", "88, 19万元": one comma that cannot group thousands (not three digits after
    it) is a decimal point the OCR misread. Chains ("2024, 12, 31", "1,234,567") stay as printed."""
    parts = re.split(r"[,，][ \u3000]?", found.group(0))
    if len(parts) != 2 or len(parts[1]) == 3:
        return found.group(0)
    return f"{parts[0]}.{parts[1]}"


def repair_spacing(text: str) -> str:
    text = _SPLIT_DECIMAL.sub(".", text)
    text = _COMMA_BETWEEN_DIGITS.sub(_decimal_comma, text)
    text = _SPACE_AFTER_LIST_NUMBER.sub("", text)
    text = _SPACE_AROUND_SLASH.sub("/", text)
    text = _LOST_UNIT_SLASH.sub("/", text)
    text = _SPACE_BETWEEN_HAN.sub("", text)
    text = _SPACE_AFTER_OPERATOR.sub("", text)
    return text


@lru_cache(maxsize=200_000)
def clean_cell(text: str) -> str:
    """All cell-level repairs, in order: markup, watermark, script junk, glyphs, spacing."""
    text = text.strip()
    if not text:
        return ""
    if text.isascii() and "<" not in text and "\\" not in text and "$" not in text:
        return _SPLIT_DECIMAL.sub(".", text)  # a bare number: read_number judges (and flags) its commas
    text = unicodedata.normalize("NFC", text)
    text = strip_markup(text)
    if is_watermark(text):
        return ""
    text = strip_watermark_fragments(text)
    text = _FOREIGN_SCRIPT.sub("", text)
    text = restore_glyphs(text)
    text = repair_spacing(text)
    return text.strip()


def clean_text(text: str) -> str:
    """Clean free text outside a grid (titles, narrative lines)."""
    return clean_cell(text)
