"""Track's screens in headless Chromium against a real `neon up`, over runs that the unmodified neptune-scale client
logged in this test: a small learning-rate sweep (two optimizers, three learning rates, two seeds) and a fork."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import connect
from tests.e2e.conftest import NeonProcess, free_port
from tests.e2e.test_neptune_scale import neptune_env

pytestmark = pytest.mark.slow  # one `neon up` and a neptune-scale script: about 20 s before the first test

STEPS = 1500  # more points than the chart's 500 buckets: the chart draws buckets (line and band), not points
SWEEP = [("adam", 0.001, 1), ("adam", 0.001, 2), ("adam", 0.01, 1), ("adam", 0.01, 2), ("sgd", 0.1, 1),
         ("sgd", 0.1, 2)]
FORK = ("adam-lr0.01-s1-resumed", "adam-lr0.01-s1", 1000)

LOG = textwrap.dedent('''
    import json, math, sys
    from neptune_scale import Run

    def loss(lr, seed, step):
        return 1 / (1 + step * lr) + 0.01 * seed + 0.02 * math.sin(step / 7)

    def main(sweep, steps, fork):
        for optimizer, lr, seed in sweep:
            with Run(run_id=f"{optimizer}-lr{lr}-s{seed}", experiment_name="sweep") as run:
                run.log_configs({"config/optimizer": optimizer, "config/lr": lr, "config/seed": seed})
                run.add_tags(["sweep", optimizer])
                for step in range(steps):
                    # a noisy series: its buckets' min/max band is wide
                    metrics = {"train/loss": loss(lr, seed, step),
                               "grad/norm": 2 / (1 + step * lr) + 0.3 * math.sin(step * 1.7) ** 2}
                    if step % 100 == 0:
                        metrics["val/acc"] = 1 - loss(lr, seed, step) / 2
                    run.log_metrics(metrics, step=step)
                for i in range(5):
                    run.log_string_series({"logs/train": f"epoch {i} done, lr={lr}"}, step=i)
        run_id, parent, fork_step = fork
        with Run(run_id=run_id, fork_run_id=parent, fork_step=fork_step, experiment_name="sweep") as run:
            run.log_configs({"config/optimizer": "adam", "config/lr": 0.005, "config/seed": 1})
            for step in range(fork_step + 1, steps):
                run.log_metrics({"train/loss": loss(0.005, 1, step)}, step=step)

    if __name__ == "__main__":
        main(json.loads(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3]))
''')


def run_id(optimizer: str, lr: float, seed: int) -> str:
    return f"{optimizer}-lr{lr}-s{seed}"


ALL_RUNS = [run_id(*r) for r in SWEEP] + [FORK[0]]


@dataclass
class TrackServer:
    url: str
    key: str


@contextmanager
def logged_server(tmp_path_factory: pytest.TempPathFactory, name: str, script: str, args: list[str],
                  env: Callable[[Path], dict[str, str]]) -> Iterator[TrackServer]:
    """A `neon up` of its own, with runs logged into it by `script` (run with `args`, in `env(home)`) before
    any test sees it; stopped afterwards."""
    folder = tmp_path_factory.mktemp(name)
    home = folder / "home"
    home.mkdir()
    process = NeonProcess(home, free_port())
    try:
        process.wait_healthy(timeout=120)
        path = folder / "log_runs.py"
        path.write_text(script)
        done = subprocess.run([sys.executable, str(path), *args], cwd=folder, env=env(home), capture_output=True,
                              text=True, timeout=300)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        assert "Traceback" not in output, output
        key = json.loads((home / "credentials.json").read_text())["api_key"]
        yield TrackServer(url=process.url, key=key)
    finally:
        process.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackServer]:
    with logged_server(tmp_path_factory, "track-ui", LOG, [json.dumps(SWEEP), str(STEPS), json.dumps(FORK)],
                       neptune_env) as logged:
        yield logged


def open_table(page: Page, server: TrackServer, address: str = "") -> None:
    connect(page, server.url, server.key)
    if address:
        page.goto(f"{server.url}/track{address}")
    else:
        page.get_by_role("link", name="Track").click()
    expect(page.get_by_test_id("runs-total")).to_be_visible()


def run_rows(page: Page):  # type: ignore[no-untyped-def]
    return page.locator("[role=table][aria-label=Runs] .run-row")


def first_run(page: Page) -> str:
    return str(run_rows(page).first.get_attribute("data-run-id"))


def test_the_table_shows_the_logged_runs_with_their_colours(browser_page: Page, server: TrackServer) -> None:
    page = browser_page
    open_table(page, server)
    expect(page.get_by_test_id("runs-total")).to_have_text("7 runs")
    expect(run_rows(page)).to_have_count(len(ALL_RUNS))
    for run in ALL_RUNS:
        expect(page.locator(f".run-row[data-run-id='{run}'] .run-id a")).to_have_text(run)
    # newest first: the fork was logged last
    assert first_run(page) == FORK[0]
    for column in ("sys/creation_time", "sys/experiment/name", "sys/tags"):
        expect(page.locator(f".column-head[data-column='{column}']")).to_be_visible()
    expect(page.locator(".run-row[data-run-id='sgd-lr0.1-s1']")).to_contain_text("sgd, sweep")

    # a run picked for charts keeps one colour: the table's swatch, the run page's swatch
    row = page.locator(".run-row[data-run-id='sgd-lr0.1-s1']")
    row.get_by_role("checkbox").check()
    expect(page.get_by_text("selected for charts")).to_contain_text("1 selected for charts")
    colour = row.locator(".run-swatch").evaluate("e => getComputedStyle(e).backgroundColor")
    row.get_by_role("link").click()
    expect(page.get_by_test_id("run-id")).to_have_text("sgd-lr0.1-s1")
    expect(page.get_by_label("selected for charts")).to_be_checked()
    assert page.locator("h1 .run-swatch").evaluate("e => getComputedStyle(e).backgroundColor") == colour


def test_a_query_narrows_the_rows_with_names_and_operators_suggested(browser_page: Page,
                                                                     server: TrackServer) -> None:
    page = browser_page
    open_table(page, server)
    expect(run_rows(page)).to_have_count(7)
    box = page.get_by_label("NQL query")
    box.click()
    box.press_sequentially("config/opt")
    suggestions = page.get_by_role("listbox", name="Suggestions")
    expect(suggestions.locator("li > span:first-child")).to_have_text(["config/optimizer"])
    box.press("Tab")
    expect(box).to_have_value("config/optimizer ")
    expect(suggestions.locator("li > span:first-child").first).to_have_text("==")
    suggestions.get_by_role("option", name="==", exact=True).click()
    box.press_sequentially('"sgd"')
    box.press("Enter")
    expect(page.get_by_test_id("runs-total")).to_have_text("2 runs")
    expect(run_rows(page)).to_have_count(2)
    assert {r.get_attribute("data-run-id") for r in run_rows(page).all()} == {"sgd-lr0.1-s1", "sgd-lr0.1-s2"}
    assert "q=" in page.url  # the view is in the address


def test_a_bad_query_shows_the_servers_error_where_it_is_and_keeps_the_rows(browser_page: Page,
                                                                            server: TrackServer) -> None:
    page = browser_page
    open_table(page, server, '?q=config/optimizer == "adam"')
    expect(page.get_by_test_id("runs-total")).to_have_text("5 runs")
    box = page.get_by_label("NQL query")
    box.fill('config/lr > 0.001 AND (config/seed == "1"')
    box.press("Enter")
    error = page.locator(".nql-error")
    expect(error).to_be_visible()
    expect(error.locator(".error-message")).to_contain_text("query")
    # the mark stands at the character the server's `position` names: here, the end (a bracket left open)
    expect(error.locator("mark")).to_have_count(1)
    assert error.locator("pre").inner_text().startswith("config/lr > 0.001 AND (config/seed")
    expect(run_rows(page)).to_have_count(5)  # the last good rows stay
    expect(page.get_by_test_id("runs-total")).to_have_text("5 runs")
    box.fill("config/lr > 0.001")
    box.press("Enter")
    expect(error).to_have_count(0)
    expect(page.get_by_test_id("runs-total")).to_have_text("5 runs")  # 0.01 ×2, 0.1 ×2, the fork's 0.005


def test_clicking_a_header_sorts(browser_page: Page, server: TrackServer) -> None:
    page = browser_page
    open_table(page, server, "?col=config/lr&col=train/loss~last")
    expect(run_rows(page)).to_have_count(7)
    header = page.locator(".column-head[data-column='config/lr']")
    header.locator(".column-label").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    expect(run_rows(page).first).to_have_attribute("data-run-id", "sgd-lr0.1-s1")  # ties by run id
    expect(run_rows(page).first.get_by_role("cell").nth(3)).to_have_text("0.1")
    header.locator(".column-label").click()
    expect(header).to_have_attribute("aria-sort", "ascending")
    expect(run_rows(page).first).to_have_attribute("data-run-id", "adam-lr0.001-s1")
    # the Run column sorts by run id
    page.get_by_role("columnheader", name="Run").click()
    expect(run_rows(page).first).to_have_attribute("data-run-id", "sgd-lr0.1-s2")
    page.get_by_role("columnheader", name=re.compile("^Run")).click()
    expect(run_rows(page).first).to_have_attribute("data-run-id", "adam-lr0.001-s1")


def test_grouping_shows_group_statistics_and_expands_to_the_runs(browser_page: Page, server: TrackServer) -> None:
    page = browser_page
    open_table(page, server, "?col=config/lr&col=config/seed")
    expect(run_rows(page)).to_have_count(7)
    page.get_by_role("button", name="+ attribute").click()
    page.get_by_label("Group by attribute").select_option("config/optimizer")
    groups = page.locator(".group-row")
    expect(groups).to_have_count(2)
    expect(run_rows(page)).to_have_count(0)
    adam = page.locator(".group-row[data-group='config/optimizer = adam']")
    sgd = page.locator(".group-row[data-group='config/optimizer = sgd']")
    expect(adam).to_contain_text("5 runs")
    expect(sgd).to_contain_text("2 runs")
    # config/lr over the sgd runs: mean 0.1, std 0; config/seed over the adam runs: 1, 2, 1, 2, 1
    expect(sgd.get_by_role("cell").nth(3)).to_have_text("0.1 ± 0")
    expect(adam.get_by_role("cell").nth(4)).to_have_text("1.4 ± 0.547723")
    sgd.get_by_role("button", name="Expand config/optimizer = sgd").click()
    expect(run_rows(page)).to_have_count(2)
    assert {r.get_attribute("data-run-id") for r in run_rows(page).all()} == {"sgd-lr0.1-s1", "sgd-lr0.1-s2"}
    sgd.get_by_role("button", name="Collapse config/optimizer = sgd").click()
    expect(run_rows(page)).to_have_count(0)
    # a second level: groups of (optimizer, lr)
    page.get_by_role("button", name="+ level").click()
    page.get_by_label("Group by attribute").select_option("config/lr")
    expect(groups).to_have_count(4)
    adam_001 = page.locator(".group-row[data-group='config/optimizer = adam · config/lr = 0.01']")
    expect(adam_001).to_contain_text("2 runs")


def test_columns_are_added_by_regex_and_removed(browser_page: Page, server: TrackServer) -> None:
    page = browser_page
    open_table(page, server)
    page.get_by_role("button", name="+ Columns").click()
    page.get_by_label("Attribute regex").fill("^(val|train)/")
    picker = page.get_by_role("dialog", name="Add columns")
    expect(picker.locator(".picker-list li")).to_have_count(2)
    expect(picker.get_by_role("button", name="Add column train/loss")).to_be_visible()
    picker.get_by_role("button", name="Add 2 matches").click()
    acc = page.locator(".column-head[data-column='val/acc']")
    expect(acc).to_be_visible()
    expect(page.locator(".column-head[data-column='train/loss']")).to_be_visible()
    # val/acc at step 1400 for adam lr 0.001 seed 1: 1 - (1/(1+1.4) + 0.01 + 0.02 sin(200)) / 2
    row = page.locator(".run-row[data-run-id='adam-lr0.001-s1']")
    acc_cell = row.get_by_role("cell").nth(3 + 5)  # after the 4 default columns and train/loss
    expect(acc_cell).to_have_text("0.7954")
    acc.get_by_label("Aggregate of val/acc").select_option("min")
    expect(acc_cell).to_have_text("0.495")  # step 0: 1 - (1 + 0.01) / 2
    acc.get_by_role("button", name="Remove column val/acc").click()
    expect(acc).to_have_count(0)
    expect(page.locator(".column-head[data-column='train/loss']")).to_be_visible()


def test_a_run_shows_its_attribute_tree_charts_logs_and_lineage(browser_page: Page, server: TrackServer) -> None:
    page = browser_page
    open_table(page, server)
    page.locator(".run-row[data-run-id='adam-lr0.01-s1'] .run-id a").click()
    expect(page.get_by_test_id("run-id")).to_have_text("adam-lr0.01-s1")

    tree = page.get_by_role("tree")
    expect(tree.locator(".tree-leaf[data-path='config/lr'] .tree-value")).to_have_text("0.01")
    expect(tree.locator(".tree-leaf[data-path='config/optimizer'] .tree-value")).to_have_text("adam")
    expect(tree.locator(".tree-leaf[data-path='train/loss']")).to_contain_text("1,500 points")
    expect(tree.locator(".tree-leaf[data-path='sys/name']")).to_have_count(0)  # sys/ starts folded
    tree.get_by_role("button", name="Expand sys").click()
    expect(tree.locator(".tree-leaf[data-path='sys/custom_run_id'] .tree-value")).to_have_text("adam-lr0.01-s1")
    tree.get_by_role("button", name="Collapse config").click()
    expect(tree.locator(".tree-leaf[data-path='config/lr']")).to_have_count(0)

    chart = page.locator(".metric-chart[data-path='train/loss']")
    expect(chart).to_have_attribute("data-drawn", "yes")
    expect(chart.locator(".u-legend")).to_contain_text("train/loss")
    expect(chart.locator(".chart-summary")).to_contain_text("steps 0–1,499")
    assert chart_has_ink(page, "train/loss")
    expect(page.locator(".metric-chart[data-path='val/acc']")).to_have_attribute("data-drawn", "yes")

    log = page.locator(".string-log[data-path='logs/train']")
    expect(log.locator(".log-lines li")).to_have_count(5)
    log.get_by_label("Search logs/train").fill("epoch 3")
    expect(log.locator(".log-lines li")).to_have_text(["3epoch 3 done, lr=0.01"])

    page.goto(f"{server.url}/track/runs/{FORK[0]}")
    expect(page.locator(".lineage")).to_contain_text(f"Forked from{FORK[1]} at step 1,000")
    expect(page.locator(".metric-chart[data-path='train/loss']")).to_have_attribute("data-drawn", "yes")
    page.locator(".lineage a").click()
    expect(page.get_by_test_id("run-id")).to_have_text(FORK[1])


def chart_has_ink(page: Page, path: str) -> bool:
    """The chart's canvas holds drawn pixels in its plotting area (not only axes on a blank canvas)."""
    return bool(page.locator(f".metric-chart[data-path='{path}'] canvas").evaluate("""canvas => {
        const ctx = canvas.getContext('2d');
        const { data } = ctx.getImageData(canvas.width * 0.3, 0, canvas.width * 0.6, canvas.height * 0.8);
        let coloured = 0;
        for (let i = 0; i < data.length; i += 4) {
            const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
            if (a > 0 && Math.max(r, g, b) - Math.min(r, g, b) > 40) coloured++;
        }
        return coloured > 50;
    }"""))


def test_compare_shows_selected_runs_side_by_side_with_differences_only(browser_page: Page,
                                                                        server: TrackServer) -> None:
    page = browser_page
    open_table(page, server, "?sort=sys/custom_run_id~~asc")
    expect(run_rows(page)).to_have_count(7)
    for run in ("adam-lr0.01-s1", "adam-lr0.01-s2"):
        page.locator(f".run-row[data-run-id='{run}']").get_by_role("checkbox").check()
    page.get_by_role("link", name="Compare").click()
    expect(page.get_by_role("heading", name="Compare 2 runs")).to_be_visible()
    header = page.locator(".compare-table .runs-head .run-id")
    expect(header).to_have_text(["adam-lr0.01-s1", "adam-lr0.01-s2"])
    lr = page.locator(".compare-row[data-path='config/lr']")
    expect(lr.get_by_role("cell")).to_have_text(["config/lr", "0.01", "0.01"])
    seed = page.locator(".compare-row[data-path='config/seed']")
    expect(seed.get_by_role("cell")).to_have_text(["config/seed", "1", "2"])
    page.get_by_label("Differences only").click()  # the box follows the address: see it ticked, as a user does
    expect(page.get_by_label("Differences only")).to_be_checked()
    expect(lr).to_have_count(0)
    expect(seed).to_be_visible()
    expect(page.locator(".compare-row[data-path='train/loss']")).to_be_visible()  # last values differ
    expect(page.locator(".compare-row[data-path='sys/custom_run_id']")).to_have_count(0)
    page.get_by_label("Find attributes").fill("^config/")
    expect(page.locator(".compare-row")).to_have_count(1)
    # the address keeps the runs: opened elsewhere, it compares the same two
    assert "run=adam-lr0.01-s1" in page.url
    assert "diff=1" in page.url


MANY = 230  # more than two pages of 100: the table loads the next keyset page as it is scrolled

LOG_MANY = textwrap.dedent('''
    import sys
    from neon.track import Run

    if __name__ == "__main__":
        for i in range(int(sys.argv[1])):
            with Run(run_id=f"many-{i:03d}", experiment_name="many") as run:
                run.log_configs({"index": i})
                run.log_metrics({"loss": 1 / (i + 1)}, step=0)
''')


@pytest.fixture(scope="module")
def many_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrackServer]:
    """A project of 230 runs, logged by neon.track (one process, far faster than 230 neptune-scale runs)."""
    def env(home: Path) -> dict[str, str]:
        kept = {k: v for k, v in os.environ.items() if not k.startswith(("NEON_", "NEPTUNE_"))}
        return {**kept, "NEON_HOME": str(home)}

    with logged_server(tmp_path_factory, "track-ui-many", LOG_MANY, [str(MANY)], env) as logged:
        yield logged


def test_scrolling_loads_the_next_pages_and_renders_only_rows_in_view(browser_page: Page,
                                                                      many_server: TrackServer) -> None:
    page = browser_page
    open_table(page, many_server)
    expect(page.get_by_test_id("runs-total")).to_have_text(f"{MANY} runs")
    table = page.get_by_role("table", name="Runs")
    expect(table).to_have_attribute("aria-rowcount", "100")
    expect(page.locator(".run-row[data-run-id='many-229']")).to_be_visible()  # newest first
    for loaded in ("200", str(MANY)):
        table.evaluate("e => e.scrollTo(0, e.scrollHeight)")
        expect(table).to_have_attribute("aria-rowcount", loaded)
    table.evaluate("e => e.scrollTo(0, e.scrollHeight)")
    expect(page.locator(".run-row[data-run-id='many-000']")).to_be_visible()
    assert run_rows(page).count() < 80  # only the rows in view (and a few either side) are in the page
