"""jixiao: performance self-evaluation tables (绩效自评表) from OCR text to validated records."""

__version__ = "0.1.0"
