"""Throughput and peak memory of the offline pipeline over the sample documents.

Prints tables per second (median of several runs, one core) and the peak
memory of one full run measured with tracemalloc, plus the ratio against a
baseline run in the same process: the bare load+segment stages, so a change
that slows extraction shows as a falling ratio, not as a machine-dependent
number alone.

    python bench/throughput.py [--runs 7] [DOCS...]
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from pathlib import Path

from extract.load import load
from extract.pipeline import clear_caches, expand_paths, extract_document
from extract.segment import segment

TARGET_TABLES_PER_SECOND = 200.0


def _timed(function, documents) -> tuple[float, int]:
    started = time.perf_counter()
    count = function(documents)
    return time.perf_counter() - started, count


def _full(documents) -> int:
    clear_caches()
    return sum(len(extract_document(document).results) for document in documents)


def _segment_only(documents) -> int:
    clear_caches()
    return sum(len(segment(document)) for document in documents)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("docs", nargs="*", default=[str(Path(__file__).resolve().parent.parent / "eval" / "docs")])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    documents = [load(path) for path in expand_paths(args.docs)]
    _full(documents)  # warm caches (vocabularies, OpenCC dictionaries)
    full = [_timed(_full, documents) for _ in range(args.runs)]
    base = [_timed(_segment_only, documents) for _ in range(args.runs)]
    tables = full[0][1]
    full_median = statistics.median(seconds for seconds, _ in full)
    base_median = statistics.median(seconds for seconds, _ in base)
    tracemalloc.start()
    _full(documents)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rate = tables / full_median
    print(f"documents           {len(documents)}")
    print(f"tables per run      {tables}")
    print(f"runs                {args.runs}")
    print(f"full pipeline       median {full_median * 1000:.1f} ms  "
          f"(min {min(s for s, _ in full) * 1000:.1f}, max {max(s for s, _ in full) * 1000:.1f})")
    best = tables / min(seconds for seconds, _ in full)
    print(f"tables per second   {rate:.0f} median, {best:.0f} best run  (target ≥ {TARGET_TABLES_PER_SECOND:.0f} "
          f"at the median: {'met' if rate >= TARGET_TABLES_PER_SECOND else 'NOT met'})")
    print(f"baseline load+segment median {base_median * 1000:.1f} ms; full / baseline = {full_median / base_median:.2f}×")
    print(f"peak traced memory  {peak / 1e6:.1f} MB (one full run)")


if __name__ == "__main__":
    main()
