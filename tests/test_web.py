"""The review surface (issue 15): `tunepilot ui` driven in a real headless Chromium (Debian's, through
Playwright), its token and CSRF checks over real HTTP, report.html opened from disk offline, and the
TensorBoard event files the training wrote, read back with tensorboard's own reader.

Screenshots of the pages land in test-artifacts/ (ignored by git)."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tunepilot.agent import run as runs
from tunepilot.web.app import csrf_value

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_browser = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (scripts/bootstrap.sh installs Debian's)")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
EASY = {"dataset.n_examples": 40, "training_config.max_steps": 3, "training_config.eval_steps": 2,
        "evaluation.limit": 4, "evaluation.export": False, "criteria.min_success": 0.0,
        "criteria.iterate_success": 0.0, "criteria.max_latency_s": 600, "criteria.iterate_latency_s": 700,
        "criteria.max_memory_gb": 100, "evaluation.suites": ["bfcl:irrelevance"], "evaluation.suite_limit": 2}
HARD = EASY | {"criteria.min_success": 1.0, "criteria.iterate_success": 1.0, "budget.max_iterations": 1}
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_model):
    """Two finished tiny runs: one awaiting approval (deploy), one that cannot deploy. Built once per
    test session (the first xdist worker, under a file lock); each module gets its own copy to change."""
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent / "web-runs"  # the same folder for every worker
    with FileLock(str(shared) + ".lock"):
        if not (shared / "done").exists():
            shutil.rmtree(shared, ignore_errors=True)
            deploy = runs.start("make it better at tool calls", model=tiny_model, overrides=EASY, runs=shared,
                                run_id="t-web")
            other = runs.start("make it better at tool calls", model=tiny_model, overrides=HARD, runs=shared,
                               run_id="t-no")
            assert deploy["decision"] == "deploy" and other["decision"] != "deploy"
            (shared / "done").write_text("")
    root = tmp_path_factory.mktemp("web") / "runs"
    shutil.copytree(shared, root, ignore=shutil.ignore_patterns("done", ".run.lock", ".append.lock"))
    return root


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ui(finished):
    """A real `tunepilot ui` process on a free port; yields (base URL, token, runs root)."""
    port, token = _port(), "test-token-0123456789"
    proc = subprocess.Popen([sys.executable, "-m", "tunepilot.cli", "ui", "--runs-dir", str(finished), "--port", str(port),
                             "--token", token], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield base, token, finished
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def _events(folder):
    return [json.loads(line) for line in (folder / "journal.jsonl").read_text().splitlines()]


@needs_browser
def test_review_and_approve_in_a_real_browser(ui, browser):
    base, token, root = ui
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(f"{base}/?token={token}")
    assert page.locator("#runs").get_by_text("t-web").count() == 1 and page.locator("#runs").get_by_text("t-no").count() == 1
    page.screenshot(path=str(ARTIFACTS / "runs-page.png"), full_page=True)
    page.click("text=t-web")
    page.wait_for_selector("#plot-loss svg")
    box = page.locator("#plot-loss svg").bounding_box()
    assert box and box["width"] > 100 and box["height"] > 50  # the loss plot really rendered
    assert page.locator("#failing tr").count() >= 1 and "failure" in page.locator("#failing").inner_text()
    assert "deploy line" in page.locator("#criteria").inner_text()
    suites = page.locator("#suites").inner_text()  # the third-party evidence beside the criteria
    assert "bfcl:irrelevance" in suites and "95 % CI" in suites and "third-party suites" in page.locator("#criteria").inner_text()
    page.screenshot(path=str(ARTIFACTS / "run-page.png"), full_page=True)

    page.fill("#approve-form input[name=who]", "Ada Reviewer")
    page.fill("#approve-form input[name=note]", "looked at the failing items")
    page.click("#approve")
    page.wait_for_selector("text=Approved by Ada Reviewer")
    ev = _events(root / "t-web")
    approval = next(e for e in ev if e["kind"] == "approval")
    assert approval["actor"] == "user:Ada Reviewer" and "looked at the failing items" in approval["rationale"]
    assert Path(approval["output"]["bundle"]).is_dir() and (Path(approval["output"]["bundle"]) / "MODEL_CARD.md").exists()
    assert "Approved by Ada Reviewer" in (root / "t-web" / "report.html").read_text()  # the report follows

    stranger = browser.new_context()  # a second session, without the token
    r = stranger.new_page().goto(f"{base}/run/t-web")
    assert r.status == 403
    stranger.close()

    page.goto(f"{base}/run/t-no")
    assert page.locator("#approve").count() == 0  # no button on a run that did not decide deploy
    refused = page.request.post(f"{base}/run/t-no/approve", form={"csrf": csrf_value(token, "t-no"), "who": "Ada"})
    assert refused.status == 409 and "only a deploy decision can be approved" in refused.text()
    assert not [e for e in _events(root / "t-no") if e["kind"] == "approval"]


def test_token_csrf_and_origin_over_http(ui):
    import httpx

    base, token, root = ui
    assert httpx.get(f"{base}/").status_code == 403
    assert httpx.get(f"{base}/?token=wrong").status_code == 403
    with httpx.Client(base_url=base) as c:
        assert c.get(f"/?token={token}").status_code == 200  # sets the cookie
        assert c.get("/run/t-no/live").json()["decision"] in ("iterate", "abort")
        assert c.post("/run/t-no/reject", data={"who": "x", "why": "y"}).status_code == 403  # no CSRF value
        evil = c.post("/run/t-no/reject", data={"csrf": csrf_value(token, "t-no"), "who": "x", "why": "y"},
                      headers={"Origin": "http://evil.example"})
        assert evil.status_code == 403
        assert c.post("/run/t-no/reject", data={"csrf": csrf_value(token, "t-no"), "who": "x", "why": ""}).status_code == 400
    assert not [e for e in _events(root / "t-no") if e["kind"] == "rejection"]


def test_binding_beyond_loopback_needs_a_token(capsys):
    from tunepilot import cli

    assert cli.main(["ui", "--host", "0.0.0.0"]) == 2
    assert "--host 0.0.0.0: binding beyond this machine needs --token" in capsys.readouterr().err


@needs_browser
def test_report_html_opens_offline_with_its_plots(finished, browser, tmp_path):
    from tunepilot import cli

    assert cli.main(["report", "t-no", "--runs-dir", str(finished)]) == 0
    report = finished / "t-no" / "report.html"
    html = report.read_text()
    assert "<script" not in html and "http://" not in html.split("<body>")[1].split("Goal:")[0]
    assert {p.name for p in (finished / "t-no" / "plots").glob("*.png")} >= {"loss.png", "failures.png"}
    context = browser.new_context(offline=True)
    asked = []
    context.route("**/*", lambda route: (asked.append(route.request.url), route.continue_()))
    page = context.new_page()
    page.goto(report.as_uri())
    assert page.locator(".plot svg").count() >= 2
    assert page.locator("#plot-loss svg").bounding_box()["width"] > 100
    assert [u for u in asked if not u.startswith("file://")] == []  # nothing fetched from anywhere
    context.close()


def test_training_writes_tensorboard_events_with_the_logged_loss(finished):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train = finished / "t-web" / "artifacts" / "iter-1" / "train"
    files = list((train / "tensorboard").glob("events.out.tfevents.*"))
    assert files
    acc = EventAccumulator(str(train / "tensorboard"))
    acc.Reload()
    losses = [e.value for e in acc.Scalars("train/loss")]
    logged = [r["loss"] for r in map(json.loads, (train / "metrics.jsonl").read_text().splitlines()) if "loss" in r]
    assert losses == pytest.approx(logged, rel=1e-5)


@needs_browser
@pytest.mark.slow
def test_the_run_page_updates_live_while_training(tiny_model, tmp_path, browser):
    root, port, token = tmp_path / "runs", _port(), "live-token-0123456789"
    over = EASY | {"training_config.max_steps": 40, "training_config.eval_steps": 20}
    sets = [a for k, v in over.items() for a in ("--set", f"{k}={json.dumps(v)}")]
    env = os.environ | {"TUNEPILOT_RUNS": str(root)}
    run = subprocess.Popen([sys.executable, "-m", "tunepilot.cli", "run", "make it better at tool calls", "--model",
                            tiny_model, "--run-id", "t-live", "--json", *sets], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ui = subprocess.Popen([sys.executable, "-m", "tunepilot.cli", "ui", "--runs-dir", str(root), "--port", str(port),
                           "--token", token], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):  # until training has logged a first step
            m = root / "t-live" / "artifacts" / "iter-1" / "train" / "metrics.jsonl"
            if m.exists() and '"loss"' in m.read_text():
                break
            time.sleep(0.2)
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/run/t-live?token={token}")
        loaded = page.evaluate("window.tunepilotLoadedAt")
        first = page.inner_text("#live-step")
        page.wait_for_function(f"document.getElementById('live-step').textContent !== {json.dumps(first)}",
                               timeout=60_000)
        assert page.evaluate("window.tunepilotLoadedAt") == loaded  # new numbers, same page: no reload
        assert int(page.inner_text("#live-step")) > int(first)
    finally:
        ui.terminate()
        run.kill()
        run.wait()
        ui.wait(timeout=10)


def test_compare_two_runs(ui):
    import httpx

    base, token, _ = ui
    with httpx.Client(base_url=base) as c:
        page = c.get(f"/compare?ids=t-web&ids=t-no&token={token}")
        assert page.status_code == 200
        assert "t-web" in page.text and "t-no" in page.text and "<svg" in page.text and "Loss curves overlaid" in page.text
        assert c.get("/?sort=success&desc=0").status_code == 200
