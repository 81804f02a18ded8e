"""The review page, driven by a real browser (headless Chromium through Playwright) and over HTTP.

The browser tests need Debian's ``chromium`` at /usr/bin/chromium (``.ci/run`` installs it,
with fonts-wqy-microhei for the Chinese text) and skip, saying so, only when it is absent.
The HTTP tests (CSRF, Host and Origin checks, escaping, field paths) need no browser.

``JIXIAO_SCREENSHOT=docs/review.png pytest tests/test_review_browser.py -k real_review``
also saves the screenshot the README shows.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from extract.cli import app as cli_app
from extract.review import create_app
from extract.store import build_queue, open_store

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "eval" / "docs"
CITY = DOCS / "000_cc1de7d507d20929.txt"
PROVINCE = DOCS / "002_df651f07c846b8e4.txt"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(),
                                    reason="/usr/bin/chromium is absent (apt-get install chromium fonts-wqy-microhei)")
SCRIPT = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'
TAGS = '<b onmouseover="window.__pwned=3">张建平</b><iframe src="javascript:window.__pwned=4"></iframe>'


def misread_city_text() -> str:
    """000 with its execution score misread as 9 (printed 8): two rule errors on a real table."""
    text = CITY.read_text(encoding="utf-8")
    assert text.count("自评得分为8分") == 1
    return text.replace("自评得分为8分", "自评得分为9分")


def hostile_text() -> str:
    """The misread table with markup where a project name and a project lead are printed."""
    text = misread_city_text()
    assert text.count("市低保中心单位运转办公、核对工作经费") == 1 and text.count("项目负责人\t\t张建平") == 1
    return (text.replace("市低保中心单位运转办公、核对工作经费", SCRIPT + "项目")
            .replace("项目负责人\t\t张建平", "项目负责人\t\t" + TAGS))


def extract_into(db: Path, folder: Path, files: dict[str, str | Path]) -> None:
    """Run ``jixiao extract --db`` over the given documents, as a user would."""
    folder.mkdir(exist_ok=True)
    for name, content in files.items():
        (folder / name).write_text(content if isinstance(content, str) else content.read_text(encoding="utf-8"),
                                   encoding="utf-8")
    result = CliRunner().invoke(cli_app, ["extract", str(folder), "--db", str(db), "-q"])
    assert result.exit_code == 0, result.output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def serve(tmp_path) -> Iterator:
    """Start the review app on 127.0.0.1 in a thread; yields a function db → base URL."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []
    stores = []

    def start(db: Path) -> str:
        store = open_store(str(db), create=False)
        stores.append(store)
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "the review server did not start"
            time.sleep(0.02)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)
    for store in stores:
        store.close()


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is absent")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


# ---------------------------------------------------------------------------------------------- browser


@needs_chromium
def test_a_real_review_corrects_a_value_clears_its_flags_and_reaches_the_export(tmp_path, serve, browser):
    db = tmp_path / "review.db"
    extract_into(db, tmp_path / "in", {"misread.txt": misread_city_text(), PROVINCE.name: PROVINCE})
    base = serve(db)
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(base + "/")
    progress = page.locator("#progress").inner_text()
    reviewed, total = map(int, re.match(r"(\d+) of (\d+) reviewed", progress).groups())
    assert reviewed == 0 and total > 2
    row = page.locator("#queue-table tr", has=page.locator("td", has_text="misread.txt")).filter(
        has=page.locator("a.field-link", has_text=re.compile(r"^execution_score$")))
    assert row.locator(".badge").first.inner_text().lower() == "error"
    row.locator("a.field-link").click()

    assert page.locator("#field-path").inner_text() == "execution_score"
    assert page.locator("#current-value").inner_text() == "9"
    assert {"execution-score", "total-score"} <= set(page.locator("#flags li").evaluate_all(
        "items => items.map(item => item.dataset.rule)"))
    evidence = page.locator("#source-lines .line.evidence")
    assert evidence.count() == 1 and "自评得分为9分" in evidence.inner_text()

    page.locator("#reviewer").fill("王审核")
    page.locator("#note").fill("OCR 把 8 读成了 9")
    if os.environ.get("JIXIAO_SCREENSHOT"):
        page.screenshot(path=os.environ["JIXIAO_SCREENSHOT"])
    page.keyboard.press("Escape")
    page.keyboard.press("e")
    assert page.evaluate("document.activeElement.id") == "value"
    page.keyboard.type("8")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")

    assert page.locator("#banner").count() == 1, page.locator("main").inner_text()[:500]
    banner = page.locator("#banner").inner_text()
    assert "Saved the correction" in banner
    assert "execution-score" in banner and "total-score" in banner
    assert page.locator("#no-flags").is_visible()
    assert page.locator("#flags").count() == 0
    assert page.locator("#status").inner_text() == "corrected"
    assert page.locator("#current-value").inner_text() == "8"
    assert page.locator("#original-value").inner_text() == "9"
    assert "王审核" in page.locator("#history").inner_text()
    assert page.locator("#progress").inner_text().startswith("1 of ")

    with page.expect_navigation():
        page.keyboard.press("n")
    accepted_field = page.locator("#field-path").inner_text()
    assert page.locator("#status").inner_text() == "pending"
    with page.expect_navigation():
        page.keyboard.press("a")
    assert "Accepted as printed" in page.locator("#banner").inner_text()
    assert page.locator("#status").inner_text() == "accepted"
    assert page.locator("#progress").inner_text().startswith("2 of ")
    assert dialogs == []

    out = tmp_path / "export"
    runner = CliRunner()
    for fmt in ("xlsx", "jsonl"):
        result = runner.invoke(cli_app, ["export", "--db", str(db), "--format", fmt, "-o", str(out / f"records.{fmt}")])
        assert result.exit_code == 0, result.output

    from openpyxl import load_workbook

    workbook = load_workbook(out / "records.xlsx")
    assert workbook.sheetnames == ["records", "indicators", "flags", "corrections"]
    records = list(workbook["records"].iter_rows(values_only=True))
    header = records[0]
    misread = [dict(zip(header, row)) for row in records[1:] if row[header.index("source.doc")] == "misread.txt"]
    assert len(misread) == 1 and misread[0]["execution_score"] == 8 and misread[0]["corrections"] == 1
    log = list(workbook["corrections"].iter_rows(values_only=True))
    entries = [dict(zip(log[0], row)) for row in log[1:]]
    first = entries[0]
    assert (first["field"], first["action"], first["old"], first["new"], first["by"]) == \
        ("execution_score", "correct", 9, 8, "王审核")
    assert entries[1]["field"] == accepted_field and entries[1]["action"] == "accept"
    flags = list(workbook["flags"].iter_rows(values_only=True))
    misread_rules = {row[flags[0].index("rule")] for row in flags[1:] if row[1] == "misread.txt"}
    assert not misread_rules & {"execution-score", "total-score"}

    lines = [json.loads(line) for line in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    [record] = [line for line in lines if line["source"]["doc"] == "misread.txt"]
    assert record["execution_score"] == 8
    assert [(c["field"], c["old"], c["new"], c["by"], c["note"]) for c in record["corrections"]] == \
        [("execution_score", 9, 8, "王审核", "OCR 把 8 读成了 9")]
    logged = [json.loads(line) for line in
              (out / "records.corrections.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(entry["field"], entry["action"], entry["by"]) for entry in logged] == \
        [("execution_score", "correct", "王审核"), (accepted_field, "accept", "王审核")]


@needs_chromium
def test_markup_in_a_document_and_in_a_reviewers_input_stays_inert_text(tmp_path, serve, browser):
    db = tmp_path / "hostile.db"
    extract_into(db, tmp_path / "in", {"hostile.txt": hostile_text()})
    base = serve(db)
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    blocked: list[str] = []
    page.on("console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text
            else None)

    page.goto(base + "/next")
    source = page.locator("#source-lines").inner_text()
    assert SCRIPT in source and TAGS in source, "the printed markup is shown as text"
    assert page.locator("#source-lines script, #source-lines img, #source-lines iframe, #source-lines b").count() == 0
    page.locator("#source-lines .line", has_text="<b onmouseover").hover()

    page.locator("#reviewer").fill('<img src=x onerror="window.__pwned=5">审核员')
    page.locator("#note").fill("<script>window.__pwned=6</script>备注")
    with page.expect_navigation():
        page.locator("#accept").click()
    history = page.locator("#history").inner_text()
    assert '<img src=x onerror="window.__pwned=5">审核员' in history
    assert "<script>window.__pwned=6</script>备注" in history

    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("document.querySelectorAll('img, iframe').length") == 0
    assert page.evaluate("Array.from(document.scripts).map(s => s.getAttribute('src'))") == ["/static/review.js"]
    assert dialogs == []
    assert blocked == [], "nothing even reached the Content-Security-Policy"


# ---------------------------------------------------------------------------------------------- HTTP


@pytest.fixture
def client(tmp_path) -> Iterator[tuple[TestClient, object]]:
    db = tmp_path / "http.db"
    extract_into(db, tmp_path / "in", {"hostile.txt": hostile_text()})
    store = open_store(str(db), create=False)
    with TestClient(create_app(store, allowed_hosts=["testserver", "127.0.0.1"])) as test_client:
        yield test_client, store
    store.close()


def first_item(client: TestClient) -> tuple[str, str, str]:
    """The first pending item's URL, its record id and the form's CSRF token."""
    response = client.get("/next", follow_redirects=True)
    assert response.status_code == 200
    token = re.search(r'name="csrf" value="([^"]+)"', response.text).group(1)
    record = re.search(r'name="record" value="(\d+)"', response.text).group(1)
    return str(response.url), record, token


def changes(store) -> int:
    with store.session() as session:
        return build_queue(session).reviewed


def test_document_text_is_escaped_and_the_page_allows_only_its_own_script(client):
    test_client, _store = client
    url, _record, _token = first_item(test_client)
    response = test_client.get(url)
    assert "<script>window.__pwned" not in response.text and "<iframe" not in response.text
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in response.text
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert response.headers["x-frame-options"] == "DENY"


def test_a_post_without_the_csrf_token_changes_nothing(client):
    test_client, store = client
    _url, record, token = first_item(test_client)
    form = {"record": record, "field": "execution_score", "action": "correct", "value": "8", "reviewer": "甲"}
    assert test_client.post("/item", data=form).status_code == 403
    assert test_client.post("/item", data={**form, "csrf": token + "x"}).status_code == 403
    assert test_client.post("/item", data={**form, "csrf": token},
                            headers={"Origin": "http://evil.example"}).status_code == 403
    assert changes(store) == 0
    response = test_client.post("/item", data={**form, "csrf": token}, follow_redirects=False)
    assert response.status_code == 303
    assert changes(store) == 1


@pytest.mark.parametrize("field", ["__class__", "evidence.execution_score", "source.doc", "indicators[999].name",
                                   "funds.planned", "flags[0].message"])
def test_a_field_path_from_the_browser_is_checked_against_the_schema(client, field):
    test_client, store = client
    _url, record, token = first_item(test_client)
    response = test_client.post("/item", data={"record": record, "field": field, "action": "correct", "value": "1",
                                               "reviewer": "甲", "csrf": token})
    assert response.status_code == 400
    assert changes(store) == 0


def test_a_bad_value_is_explained_on_the_page(client):
    test_client, store = client
    _url, record, token = first_item(test_client)
    response = test_client.post("/item", data={"record": record, "field": "execution_score", "action": "correct",
                                               "value": "八", "reviewer": "甲", "csrf": token})
    assert response.status_code == 400
    assert 'id="error"' in response.text and "execution_score" in response.text
    assert 'value="八"' in response.text, "the typed value is kept for fixing"
    assert changes(store) == 0


def test_a_request_for_another_host_is_refused(client):
    test_client, _store = client
    assert test_client.get("/", headers={"Host": "evil.example"}).status_code == 400


def test_the_review_command_serves_on_loopback(tmp_path):
    db = tmp_path / "cli.db"
    extract_into(db, tmp_path / "in", {"misread.txt": misread_city_text()})
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", "from extract.cli import main; main()", "review", "--db",
                                str(db), "--port", str(port)], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read()
                assert time.monotonic() < deadline, "jixiao review did not answer"
                time.sleep(0.1)
        assert response.status_code == 200 and "execution_score" in response.text
        listening = [line for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
                     if line.split()[1].endswith(f":{port:04X}") and line.split()[3] == "0A"]
        assert [line.split()[1].split(":")[0] for line in listening] == ["0100007F"], "bound to 127.0.0.1 only"
    finally:
        process.terminate()
        process.wait(timeout=10)
