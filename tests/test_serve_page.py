"""The web page in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright for Python.

It types a review, submits it, and reads the label and the highlighted words back from the page; then a
translation with its hover-to-highlight attention, a tagger's coloured entities and an LM's tokens arriving one by
one. Playwright drives the system's Chromium (``executable_path``): nothing is downloaded. Outside CI the test skips
when Chromium or Playwright is missing; in CI (``CI`` set) it fails instead. Set ``SEQLAB_SERVE_SCREENSHOT=path`` to
keep the screenshot (``benchmarks/serve-page.png`` is made so).
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

pytest.importorskip("fastapi")
from conftest import NEGATIVE, POSITIVE  # noqa: E402
from serve_models import FakeLM, FakeTagger, rnn_dir, running, translator_dir  # noqa: E402

from seqlab.serve.app import create_app  # noqa: E402
from seqlab.serve.loading import load_models, served  # noqa: E402

REVIEW = "A wonderful film: the story is superb and the camera brilliant."


def _chromium() -> str:
    path = os.environ.get("SEQLAB_CHROMIUM") or next(
        (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
    missing = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if path is None:
        missing.append("a Chromium browser (apt-get install chromium, or SEQLAB_CHROMIUM=/path)")
    if missing:
        reason = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI must run it (.ci/run installs both)")
        pytest.skip(reason)
    return path


@pytest.fixture(scope="module")
def browser_page():
    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    models = load_models([str(rnn_dir()), f"de-en={translator_dir()}"], log=lambda *_: None)
    models += [served("tagger", FakeTagger()), served("lm", FakeLM(delay=0.25))]
    with running(create_app(models)) as base, sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 760})
        page.goto(base)
        page.wait_for_selector("#model option", state="attached")
        yield page, base, models[0].predictor
        browser.close()


def _run(page, model: str, text: str) -> None:
    page.select_option("#model", label=model)
    page.fill("#text", text)
    page.click("#run")


def test_a_review_gets_its_label_and_highlighted_words(browser_page, tmp_path):
    page, _, classifier = browser_page
    _run(page, "rnn (classify)", REVIEW)
    page.wait_for_selector("#label")
    assert page.inner_text("#label") == "pos"
    assert page.inner_text("#confidence").endswith("%")
    words = page.eval_on_selector_all("#tokens .tok", "els => els.map(e => [e.textContent, Number(e.dataset.weight)])")
    highlighted = page.eval_on_selector_all("#tokens .tok.hl", "els => els.map(e => e.textContent)")
    expected = classifier.explain([REVIEW])[0]
    assert [w for w, _ in words] == expected["tokens"]
    assert [w for _, w in words] == pytest.approx(expected["attention"], abs=1e-3)
    top = max(expected["attention"])
    assert highlighted == [t for t, w in zip(expected["tokens"], expected["attention"], strict=True) if w >= 0.5 * top]
    assert highlighted and set(highlighted) <= set(POSITIVE) | set(NEGATIVE)  # the model looks at sentiment words
    assert max(words, key=lambda w: w[1])[0] in POSITIVE
    shot = os.environ.get("SEQLAB_SERVE_SCREENSHOT") or str(tmp_path / "serve-page.png")
    page.screenshot(path=shot, full_page=True)
    assert os.path.getsize(shot) > 10_000


def test_a_translation_with_hover_to_highlight_attention(browser_page):
    page, _, _ = browser_page
    _run(page, "de-en (translate)", "Hund rot spielt.")
    page.wait_for_selector("#translation")
    assert page.inner_text("#translation").strip()
    frame = page.frame_locator("#attention")
    target = frame.locator(".tgt .tok").first
    target.hover()
    weights = frame.locator(".src .w").all_inner_texts()
    assert weights and all(w for w in weights)  # hovering wrote each source token's weight under it
    assert sum(float(w) for w in weights) == pytest.approx(1.0, abs=0.02)


def test_entities_are_coloured_by_type(browser_page):
    page, _, _ = browser_page
    _run(page, "tagger (tag)", "Ada visited Paris with Alan")
    page.wait_for_selector("#entities mark")
    marks = page.eval_on_selector_all(
        "#entities mark.ent", "els => els.map(e => [e.dataset.type, e.firstChild.textContent, e.style.backgroundColor])")
    assert [(t, w) for t, w, _ in marks] == [("PER", "Ada"), ("LOC", "Paris"), ("PER", "Alan")]
    assert marks[0][2] == marks[2][2] != marks[1][2]  # one colour per type
    assert page.inner_text("#entities").startswith("Ada")


def test_generated_tokens_appear_one_by_one(browser_page):
    page, _, _ = browser_page
    page.select_option("#model", label="lm (lm)")
    page.fill("#opt-max_tokens", "5")
    _run(page, "lm (lm)", "Once upon a time")
    seen = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        seen.add(page.locator("#generated .gen-tok").count())
        if 5 in seen:
            break
        time.sleep(0.05)
    assert 5 in seen and seen & {1, 2, 3, 4}, seen  # some tokens were on the page before the last one came
    assert page.inner_text("#generated").startswith("Once upon a time w")
