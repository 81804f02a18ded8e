"""The record models (the contract), field paths, and vocabularies as data."""

from schemas.record import (
    FORMAT_VERSION,
    CategoryScore,
    Correction,
    ErrorEntry,
    Evidence,
    ExtractorInfo,
    Flag,
    FundLine,
    Funds,
    Goals,
    GoldRecord,
    Indicator,
    Narrative,
    Record,
    Source,
    TableContent,
)

__all__ = [
    "FORMAT_VERSION", "CategoryScore", "Correction", "ErrorEntry", "Evidence", "ExtractorInfo", "Flag",
    "FundLine", "Funds", "Goals", "GoldRecord", "Indicator", "Narrative", "Record", "Source", "TableContent",
]
