"""The web page in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright for Python.

It types a review, submits it, and reads the label and the words shaded by the explanation back from the page (a bag
model's exact linear contributions; an RNN's integrated gradients, with its attention weights as a second view); then
a translation with its hover-to-highlight attention, a tagger's coloured entities, an LM's tokens arriving one by one,
and a model of a task without a part of the page. Playwright drives the system's Chromium (``executable_path``):
nothing is downloaded. Outside CI the test skips when Chromium or Playwright is missing; in CI (``CI`` set) it fails
instead. Set ``SEQLAB_SERVE_SCREENSHOT=path`` to keep the screenshot of the bag model's answer
(``benchmarks/serve-page.png`` is made so).
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

pytest.importorskip("fastapi")
from conftest import NEGATIVE, POSITIVE  # noqa: E402
from serve_models import FakeLM, FakeTagger, bag_dir, rnn_dir, running, translator_dir  # noqa: E402

from seqlab.serve.app import create_app  # noqa: E402
from seqlab.serve.loading import load_models, served  # noqa: E402

pytestmark = [pytest.mark.serve, pytest.mark.browser, pytest.mark.slow]  # slow: Chromium starts, and the models train (~3 s)

REVIEW = "A wonderful film: the story is superb and the camera brilliant."
GREEN, RED = "rgba(22, 163, 74", "rgba(220, 38, 38"  # for the label, against it (as seqlab predict --explain --html)


class FakeToy:
    """A model of a task that has no part of the page (nor routes): the page lists it and says it cannot show it."""

    task = "toy"

    def describe(self) -> dict:
        return {}


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

    models = load_models([str(bag_dir()), str(rnn_dir()), f"de-en={translator_dir()}"], log=lambda *_: None)
    models += [served("tagger", FakeTagger()), served("lm", FakeLM(delay=0.25)), served("toy", FakeToy())]
    with running(create_app(models)) as base, sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 760})
        page.goto(base)
        page.wait_for_selector("#model option", state="attached")
        yield page, base, {m.name: m.predictor for m in models}
        browser.close()


def _run(page, model: str, text: str) -> None:
    page.select_option("#model", label=model)
    page.fill("#text", text)
    page.click("#run")


def _shaded_words(page) -> list[dict]:
    return page.eval_on_selector_all("#explanation .tok", """els => els.map(e => ({
        text: e.textContent, score: Number(e.dataset.score), colour: e.style.backgroundColor, title: e.title}))""")


def _check_shading(words: list[dict], expected: dict) -> None:
    """The words are the explanation's tokens, green for the label and red against it, as strong as |score|."""
    assert [w["text"] for w in words] == expected["tokens"]
    assert [w["score"] for w in words] == pytest.approx([s for _, s in expected["token_scores"]], abs=1e-5)
    top = max(abs(w["score"]) for w in words)
    for w in words:
        assert w["colour"].startswith(RED if w["score"] < 0 else GREEN), w
        alpha = float(w["colour"].rsplit(",", 1)[1].rstrip(")")) if w["colour"].startswith("rgba") else 1.0
        assert alpha == pytest.approx(0.8 * abs(w["score"]) / top, abs=0.005), w  # the browser keeps alpha in 1/255
        assert f"{w['score']:+.3f}" in w["title"] and expected["label"] in w["title"]


def test_a_bag_models_words_are_shaded_by_its_exact_explanation(browser_page, tmp_path):
    page, _, predictors = browser_page
    _run(page, "bag (classify)", REVIEW)
    page.wait_for_selector("#explanation")
    expected = predictors["bag"].explain([REVIEW])[0]
    assert expected["method"] == "linear" and expected["attention"] is None
    assert page.inner_text("#label") == expected["label"] == "pos"
    assert page.inner_text("#confidence") == f"{100 * expected['confidence']:.1f}%"
    words = _shaded_words(page)
    _check_shading(words, expected)
    assert max(words, key=lambda w: w["score"])["text"] in POSITIVE  # a sentiment word speaks loudest for "pos"
    assert "exact linear contributions" in page.inner_text("#method")
    assert page.locator("#attention-weights").count() == 0  # no attention pooling: no second view
    assert "no word weights" not in page.inner_text("#output")
    shot = os.environ.get("SEQLAB_SERVE_SCREENSHOT") or str(tmp_path / "serve-page.png")
    page.screenshot(path=shot, full_page=True)
    assert os.path.getsize(shot) > 10_000


def test_an_attention_model_shows_its_explanation_and_its_attention(browser_page):
    page, _, predictors = browser_page
    _run(page, "rnn (classify)", REVIEW)
    page.wait_for_selector("#attention-weights")
    expected = predictors["rnn"].explain([REVIEW])[0]
    assert page.inner_text("#label") == expected["label"] == "pos"
    assert page.inner_text("#confidence").endswith("%")
    _check_shading(_shaded_words(page), expected)
    assert "integrated gradients" in page.inner_text("#method")
    words = page.eval_on_selector_all("#attention-weights .tok",
                                      "els => els.map(e => [e.textContent, Number(e.dataset.weight)])")
    highlighted = page.eval_on_selector_all("#attention-weights .tok.hl", "els => els.map(e => e.textContent)")
    assert [w for w, _ in words] == expected["tokens"]
    assert [w for _, w in words] == pytest.approx(expected["attention"], abs=1e-3)
    top = max(expected["attention"])
    assert highlighted == [t for t, w in zip(expected["tokens"], expected["attention"], strict=True) if w >= 0.5 * top]
    assert highlighted and set(highlighted) <= set(POSITIVE) | set(NEGATIVE)  # the model looks at sentiment words
    assert max(words, key=lambda w: w[1])[0] in POSITIVE


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


def test_a_model_whose_task_has_no_part_of_the_page_is_listed_but_not_shown(browser_page):
    page, _, _ = browser_page
    _run(page, "toy (toy)", "anything")
    page.wait_for_function("document.getElementById('status').textContent.indexOf('cannot show') >= 0")
    assert "cannot show toy models" in page.inner_text("#status")
    assert page.inner_text("#output") == ""
    assert page.locator("#options *").count() == 0


def test_a_served_models_lines_are_drawn_as_a_map(browser_page):
    """"Map the lines" embeds each line (POST .../embed) and lays the texts out by PCA in the page: the points are
    numpy's first two principal components of the unit vectors (up to each axis' sign), each named by its text."""
    import numpy as np

    page, _, predictors = browser_page
    lines = [REVIEW, "Dull, tedious and awful.", "A superb, moving story.", "the film was a movie", "Boring and poor."]
    page.select_option("#model", label="rnn (classify)")
    page.fill("#text", "\n".join(lines))
    page.click("#map-run")
    page.wait_for_selector("#text-map .map-point")
    points = page.eval_on_selector_all("#text-map .map-point", """els => els.map(e => [e.dataset.text,
        Number(e.querySelector('circle').getAttribute('cx')), Number(e.querySelector('circle').getAttribute('cy'))])""")
    assert [t for t, _, _ in points] == lines
    vectors = predictors["rnn"].embed(lines)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    centred = unit - unit.mean(0)
    expected = centred @ np.linalg.svd(centred)[2][:2].T  # (N, 2)
    shown = np.array([[x, -y] for _, x, y in points])  # the SVG's y grows downwards
    for axis in range(2):
        want = (expected[:, axis] - expected[:, axis].min()) / np.ptp(expected[:, axis])
        got = (shown[:, axis] - shown[:, axis].min()) / np.ptp(shown[:, axis])
        assert min(np.abs(got - want).max(), np.abs(got - (1 - want)).max()) < 0.01, axis
    assert "5 texts, 32-d vectors (attention-pooled gru states" in page.inner_text("#status")
    page.select_option("#model", label="bag (classify)")  # an nb-weighted bag has no vector of a text
    assert page.locator("#map-run").is_hidden()
    page.fill("#text", "")
