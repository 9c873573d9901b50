"""The web UI in Chromium, next to the API alone in the same run (issue 18's goals).

``python -m bench.ui`` (or ``make bench``, which includes its rows) starts one ``querydeck
serve`` with the demo on a throwaway data directory and an administrator ``bench``, then
drives Debian's Chromium (``/usr/bin/chromium``) with Playwright and measures:

- **first rows**: opening a finished 1,000,000-row ``SELECT *`` result until its first
  rows are painted, against the API's own answer for that run with its first page
  (goal: at most 2x the API plus 100 ms);
- **scrolling**: the 95th percentile of frame times while the grid scrolls through the
  result one screen per frame (goal: 16.7 ms), and a jump to row 900,000 until that row
  is painted (goal: 150 ms), against the API's page at offset 900,000;
- **sort**: a sort of the 1M-row stored result by one column until its first page is
  painted (goal: 1.5 s), against the API's ``/view`` alone on a view not computed yet;
- **bundle**: the entry chunk gzipped (goal: 400 KB) and a first visit to an interactive
  editor with a cold cache (goal: 1.5 s), against the login API call alone.

Medians of ``QD_BENCH_UI_REPEAT`` (default 5) rounds; ``QD_BENCH_UI_ROWS`` changes the
result size (default 1,000,000). The machine is shared: read the figures as such.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("QD_BENCH_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROWS = int(os.environ.get("QD_BENCH_UI_ROWS", "1000000"))
REPEAT = int(os.environ.get("QD_BENCH_UI_REPEAT", "5"))
PASSWORD = "bench-ui-password-1"
SQL = (
    "SELECT i, i % 7 AS m, 'row ' || i AS label, i * 1.5 AS x, "
    "DATE '2024-01-01' + CAST(i % 365 AS INTEGER) AS day FROM range({rows}) t(i)"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server() -> Iterator[str]:
    """A ``querydeck serve`` with the demo and the administrator ``bench``."""
    from querydeck.app.demo import prepare
    from querydeck.app.workbench import Workbench
    from querydeck.auth.principal import LOCAL, Role
    from querydeck.settings import load_settings

    with tempfile.TemporaryDirectory(prefix="qd-bench-ui-") as tmp:
        data_dir = Path(tmp) / "data"
        prepare(data_dir / "demo")
        with Workbench(load_settings(data_dir=data_dir)) as wb:
            wb.admin.create_demo()
            wb.accounts.create_user(LOCAL, "bench", role=Role.admin, password=PASSWORD)
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUERYDECK_")}
        env.update(
            {
                "QUERYDECK_DATA_DIR": str(data_dir),
                "QUERYDECK_LOG_LEVEL": "WARNING",
                "QUERYDECK_RATE_LIMIT_RUNS_USER": "",
                "QUERYDECK_RATE_LIMIT_RUNS_ADDRESS": "",
                "QUERYDECK_RATE_LIMIT_LOGIN_USER": "",
                "QUERYDECK_RATE_LIMIT_LOGIN_ADDRESS": "",
            }
        )
        command = [str(Path(sys.executable).parent / "querydeck"), "serve", "--port", str(port)]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=30)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


class Api:
    """The API alone, with the session of a login (as the UI uses it)."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=120)
        login = self.client.post(
            "/api/v1/auth/login", json={"username": "bench", "password": PASSWORD}
        )
        login.raise_for_status()
        self.headers = {"X-CSRF-Token": login.json()["csrf_token"]}

    def run(self, sql: str) -> str:
        answer = self.client.post(
            "/api/v1/runs",
            json={"connection": "demo", "sql": sql, "max_rows": ROWS, "wait_ms": 60_000},
            headers=self.headers,
        )
        answer.raise_for_status()
        return str(answer.json()["run"]["id"])

    def get(self, path: str, **params: Any) -> None:
        self.client.get(path, params=params).raise_for_status()


def _page_timer(page: Any, script: str) -> float:
    """Seconds the page measured for ``script`` (a promise of milliseconds)."""
    return float(page.evaluate(script)) / 1000


WAIT_PAINTED = """([row, col, text]) => new Promise((resolve) => {
  const started = performance.now();
  const check = () => {
    const cell = document.querySelector(`[data-row='${row}'] [data-col='${col}']`);
    if (cell && (text === null ? cell.textContent !== '…' : cell.textContent === text)) {
      requestAnimationFrame(() => resolve(performance.now() - started));
    } else requestAnimationFrame(check);
  };
  check();
})"""

SCROLL_FRAMES = """(frames) => new Promise((resolve) => {
  const grid = document.querySelector('[role=grid]');
  const times = [];
  let last = performance.now();
  let n = 0;
  const step = (now) => {
    times.push(now - last);
    last = now;
    grid.scrollTop += grid.clientHeight;
    if (++n < frames) requestAnimationFrame(step); else resolve(times.slice(1));
  };
  requestAnimationFrame(step);
})"""


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(url: str) -> list[tuple[str, str, str, str]]:
    from playwright.sync_api import sync_playwright

    api = Api(url)
    sql = SQL.format(rows=ROWS)
    run_id = api.run(sql)
    rows: list[tuple[str, str, str, str]] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.goto("/")
            page.get_by_label("User name").fill("bench")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.locator(".cm-content").wait_for()

            # First rows of a finished result: History's "Open result" (no page load; the
            # UI reads the run with its first page and paints it).
            ui, ref = [], []
            for _ in range(REPEAT):
                ref.append(timed(lambda: api.get(f"/api/v1/runs/{run_id}", page_size=200)))
                page.get_by_role("link", name="History").click()
                opener = page.locator(f"tr[data-run='{run_id}']").get_by_role(
                    "button", name="Open result"
                )
                opener.wait_for()
                started = time.perf_counter()
                opener.click()
                page.evaluate(WAIT_PAINTED, [0, 0, "0"])
                ui.append(time.perf_counter() - started)
            goal = 2 * median_ms(ref) + 100
            rows.append(
                (
                    f"UI: open a finished {ROWS:,}-row result from History, first rows painted "
                    f"(goal ≤ {goal:.0f} ms)",
                    f"{median_ms(ui):.0f} ms",
                    f"API run + first page {median_ms(ref):.0f} ms",
                    f"{median_ms(ui) / median_ms(ref):.2f}x",
                )
            )

            # Scrolling: frame times, and the jump to row 900,000.
            frames = page.evaluate(SCROLL_FRAMES, 120)
            jump, ref = [], []
            target = min(900_000, ROWS - 1)
            for _ in range(REPEAT):
                ref.append(timed(lambda: api.get(f"/api/v1/runs/{run_id}/rows", offset=target)))
                page.get_by_label("Go to row").fill("1")
                page.get_by_label("Go to row").press("Enter")
                page.get_by_label("Go to row").fill(str(target + 1))
                started = time.perf_counter()
                page.get_by_label("Go to row").press("Enter")
                page.evaluate(WAIT_PAINTED, [target, 0, str(target)])
                jump.append(time.perf_counter() - started)
            rows.append(
                (
                    "UI: scroll a screen per frame, p95 frame time (goal ≤ 16.7 ms)",
                    f"{p95(frames):.1f} ms",
                    f"median frame {statistics.median(frames):.1f} ms",
                    "",
                )
            )
            rows.append(
                (
                    f"UI: jump to row {target + 1:,}, painted (goal ≤ 150 ms)",
                    f"{median_ms(jump):.0f} ms",
                    f"API page at offset {target:,} {median_ms(ref):.0f} ms",
                    f"{median_ms(jump) / median_ms(ref):.2f}x",
                )
            )

            # Sort by one column: each round a new result, so the view is computed anew.
            sort, ref = [], []
            for n in range(REPEAT):
                fresh = api.run(f"/* api {n} */ {sql}")
                ref.append(
                    timed(
                        lambda fresh=fresh: api.get(
                            f"/api/v1/runs/{fresh}/view", sort='[{"column": "x", "desc": true}]'
                        )
                    )
                )
                other = api.run(f"/* ui {n} */ {sql}")
                page.goto(f"/?run={other}")
                page.locator("[data-row='0'] [data-col='0']").filter(has_text="0").wait_for()
                page.get_by_role("columnheader", name=re.compile("^x ")).get_by_role(
                    "button"
                ).click()
                started = time.perf_counter()
                page.get_by_role("button", name="Sort descending").click()
                page.evaluate(WAIT_PAINTED, [0, 0, str(ROWS - 1)])
                sort.append(time.perf_counter() - started)
            rows.append(
                (
                    f"UI: sort {ROWS:,} stored rows by one column, first page painted "
                    "(goal ≤ 1500 ms)",
                    f"{median_ms(sort):.0f} ms",
                    f"API /view alone {median_ms(ref):.0f} ms",
                    f"{median_ms(sort) / median_ms(ref):.2f}x",
                )
            )

            # Bundle and a cold first visit (a new context: no HTTP cache, the session
            # cookie copied so that the editor is what loads).
            entry = max(
                (ROOT / "src" / "querydeck" / "web" / "assets").glob("index-*.js.gz"),
                key=lambda f: f.stat().st_size,
            )
            cookies = context.cookies()
            cold, ref = [], []
            for _ in range(REPEAT):
                fresh_context = browser.new_context(base_url=url)
                fresh_context.add_cookies(cookies)
                fresh_page = fresh_context.new_page()
                started = time.perf_counter()
                fresh_page.goto("/")
                fresh_page.locator(".cm-content").wait_for()
                cold.append(time.perf_counter() - started)
                fresh_context.close()
                ref.append(
                    timed(lambda: httpx.get(f"{url}/api/v1/auth/me", cookies=api.client.cookies))
                )
            rows.append(
                (
                    "UI: entry chunk, gzipped (goal ≤ 400 KB)",
                    f"{entry.stat().st_size / 1024:.0f} KB",
                    "",
                    "",
                )
            )
            rows.append(
                (
                    "UI: first visit to an interactive editor, cold cache (goal ≤ 1500 ms)",
                    f"{median_ms(cold):.0f} ms",
                    f"API /auth/me {median_ms(ref):.0f} ms",
                    f"{median_ms(cold) / median_ms(ref):.1f}x",
                )
            )
        finally:
            browser.close()
    return rows


def run() -> list[tuple[str, str, str, str]]:
    if not Path(CHROMIUM).exists() or shutil.which("node") is None:
        print(f"bench.ui: skipped ({CHROMIUM} or node missing)", file=sys.stderr)
        return []
    if not (ROOT / "src" / "querydeck" / "web" / "index.html").exists():
        print("bench.ui: skipped (the web UI is not built: make web)", file=sys.stderr)
        return []
    with server() as url:
        return measure(url)


if __name__ == "__main__":
    for row in run():
        print(" | ".join(row))
