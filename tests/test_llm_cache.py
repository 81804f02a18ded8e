"""The answer cache: keyed by everything that decides an answer; a damaged entry is a miss, not a crash."""

from __future__ import annotations

from pathlib import Path

from extract.llm.cache import AnswerCache, cache_key

BASE = {"model": "m", "prompt_version": "city-project/1", "template_digest": "abc", "schema": "s1",
        "table_text": "0001│ 项目名称 | 养老"}


def test_every_part_of_the_key_matters() -> None:
    key = cache_key(**BASE)
    for name, other in (("model", "m2"), ("prompt_version", "city-project/2"), ("template_digest", "abd"),
                        ("schema", "s2"), ("table_text", "0001│ 项目名称 | 养老院")):
        assert cache_key(**{**BASE, name: other}) != key, name
    assert cache_key(**BASE, checks="none") != key
    assert cache_key(**BASE) == key


def test_round_trip_and_damaged_entries(tmp_path: Path) -> None:
    cache = AnswerCache(tmp_path)
    key = cache_key(**BASE)
    assert cache.get(key) is None and cache.misses == 1
    cache.put(key, {"answer": {"project_name": "养老"}, "status": "ok"})
    assert cache.get(key)["answer"] == {"project_name": "养老"} and cache.hits == 1
    path = next(tmp_path.rglob("*.json"))
    path.write_text("{not json", encoding="utf-8")
    assert cache.get(key) is None
    path.write_text('{"format": 999, "answer": {}}', encoding="utf-8")
    assert cache.get(key) is None, "an entry of another cache format is not used"


def test_an_unwritable_cache_is_not_fatal(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    cache = AnswerCache(blocker / "cache")
    cache.put(cache_key(**BASE), {"answer": {}})
    assert cache.get(cache_key(**BASE)) is None
