"""Maps of vectors (``seqlab vectors VECS --plot``): the reductions keep clusters apart, neighbours are the full
space's, the word choice and its errors, the PNG's labels never overlap, and the HTML page is self-contained; in a
headless Chromium (the serve tests' browser) it renders, its search centres a word and lists the neighbours the page
was given, hovering names a point, and it sends no request anywhere.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from seqlab import maps
from seqlab import vectors as vec
from seqlab.errors import SeqlabError
from seqlab.models.embeddings import Vectors, nearest


def clusters(n_per: int = 40, k: int = 3, dim: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``k`` tight clusters in ``dim`` dimensions around random directions (cosine tells them apart)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim)) * 3
    x = np.concatenate([c + rng.normal(scale=0.3, size=(n_per, dim)) for c in centres]).astype(np.float32)
    return x, np.repeat(np.arange(k), n_per)


def toy_vectors(n_per: int = 30) -> Vectors:
    """Words of three topics (animals, colours, numbers), each topic a cluster; punctuation rows too."""
    x, labels = clusters(n_per, 3, 16, seed=1)
    topics = ["animal", "colour", "number"]
    words = [f"{topics[t]}{i}" for i, t in enumerate(labels)]
    punctuation = np.random.default_rng(2).normal(size=(3, 16)).astype(np.float32)
    return Vectors([",", ".", '"', *words], np.concatenate([punctuation, x]))


def same_cluster_share(coords: np.ndarray, labels: np.ndarray) -> float:
    """How many points have their nearest other point (on the map) in their own cluster."""
    d = ((coords[:, None] - coords[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return float((labels[d.argmin(1)] == labels).mean())


# ---------------------------------------------------------------------------- reduction
@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_a_reduction_keeps_clusters_apart_and_is_reproducible(method):
    x, labels = clusters()
    coords = maps.reduce(x, method, seed=0)
    assert coords.shape == (len(x), 2) and np.isfinite(coords).all()
    assert same_cluster_share(coords, labels) >= 0.95
    assert np.allclose(coords, maps.reduce(x, method, seed=0))


@pytest.mark.slow  # umap-learn compiles with numba the first time (tens of seconds)
def test_umap_keeps_clusters_apart():
    pytest.importorskip("umap")
    x, labels = clusters()
    assert same_cluster_share(maps.reduce(x, "umap", seed=0), labels) >= 0.95


def test_pca_is_the_svd_of_the_unit_rows():
    x, _ = clusters(10, 2, 5)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    coords = maps.reduce(x, "pca")
    centred = unit - unit.mean(0)
    assert np.allclose(np.abs(coords), np.abs(centred @ np.linalg.svd(centred)[2][:2].T), atol=1e-4)


def test_neighbours_are_the_cosine_nearest_in_the_full_space():
    x, _ = clusters(15, 3, 8)
    index, sims = maps.neighbours(x, k=5)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    full = unit @ unit.T
    np.fill_diagonal(full, -np.inf)
    for i in range(len(x)):
        assert set(index[i]) == set(np.argsort(-full[i])[:5])
        assert np.allclose(sims[i], np.sort(full[i])[::-1][:5], atol=1e-5)
        assert list(sims[i]) == sorted(sims[i], reverse=True) and i not in index[i]


def test_an_unknown_method_or_format_is_one_clear_error(tmp_path):
    with pytest.raises(SeqlabError, match="unknown --method 'tnse'; choose one of pca, tsne, umap"):
        maps.reduce(np.ones((4, 3)), "tnse")
    with pytest.raises(SeqlabError, match=r"\.png .*\.html"):
        maps.write_map(tmp_path / "map.svg", ["a", "b"], np.eye(2))


# ---------------------------------------------------------------------------- which words
def test_the_top_words_leave_punctuation_out_and_highlights_bring_their_neighbours():
    v = toy_vectors()
    rows, marked = vec.choose(v, top=10, highlight=["number80"])
    names = [v.words[i] for i in rows]
    assert names[:10] == [f"animal{i}" for i in range(10)]  # the first 10 words, no "," "." '"'
    assert marked == [v.index()["number80"]] and "number80" in names
    near = [w for w, _ in nearest(v, v.matrix[v.index()["number80"]], k=vec.HIGHLIGHT_NEIGHBOURS, exclude={"number80"})]
    assert set(near) <= set(names)


def test_a_word_list_maps_its_known_words_and_one_with_none_is_refused(tmp_path):
    v = toy_vectors()
    said = []
    rows, _ = vec.choose(v, words=["colour31", "zebra", "animal2"], log=said.append)
    assert [v.words[i] for i in rows] == ["colour31", "animal2"]
    assert said == ["1 of 3 words are not in the vectors; mapping the other 2"]
    with pytest.raises(SeqlabError, match="none of the 2 words of the list is in the vectors"):
        vec.choose(v, words=["zebra", "okapi"])
    with pytest.raises(SeqlabError, match="--highlight: not in the vectors: zebra"):
        vec.choose(v, top=5, highlight=["zebra"])


def test_word_lists_and_groups_files(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("# a comment\nking\tx\n\nqueen\nking\n", encoding="utf-8")
    assert vec.read_word_list(words) == ["king", "queen"]
    groups = tmp_path / "groups.tsv"
    groups.write_text("king\troyal\nparis\tcity\n", encoding="utf-8")
    assert vec.read_groups(groups) == {"king": "royal", "paris": "city"}
    groups.write_text("king\troyal\nparis city\n", encoding="utf-8")
    with pytest.raises(SeqlabError, match="line 2 is not 'word<TAB>group'"):
        vec.read_groups(groups)


# ---------------------------------------------------------------------------- the PNG
def test_the_png_labels_fit_without_overlapping(tmp_path, monkeypatch):
    """Every label drawn is kept: the placement refuses a box that overlaps another (checked on the drawn texts)."""
    import matplotlib.pyplot as plt

    v = toy_vectors()
    boxes = []
    close = plt.close

    def keep_boxes(fig):  # read the labels' extents from the finished figure before it is closed
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        boxes.extend(t.get_window_extent(renderer) for t in fig.axes[0].texts)
        close(fig)

    monkeypatch.setattr(plt, "close", keep_boxes)
    groups = {w: w.rstrip("0123456789") for w in v.words if w[0].isalpha()}
    summary = vec.plot(v, tmp_path / "map.png", method="pca", groups=groups, highlight=["colour40"])
    png = (tmp_path / "map.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and summary["points"] == 90 and summary["labels"] == len(boxes) >= 10
    overlaps = [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:] if a.overlaps(b)
                and min(a.x1, b.x1) - max(a.x0, b.x0) > 1.5 and min(a.y1, b.y1) - max(a.y0, b.y0) > 1.5]
    assert overlaps == []


# ---------------------------------------------------------------------------- the HTML page
def page_data(path) -> dict:
    text = path.read_text(encoding="utf-8")
    return json.loads(re.search(r'<script type="application/json" id="map-data">(.*?)</script>', text, re.S).group(1))


def test_the_html_page_holds_everything_and_fetches_nothing(tmp_path):
    v = toy_vectors()
    groups = {w: w.rstrip("0123456789") for w in v.words if w[0].isalpha()}
    vec.plot(v, tmp_path / "map.html", method="pca", groups=groups, top=60, title="toy </script> words")
    text = (tmp_path / "map.html").read_text(encoding="utf-8")
    for needle in ("http://", "https://", " src=", "<link", "@import", "url("):
        assert needle not in text, needle
    assert text.count("</script>") == 2  # the data's "</script>" was escaped
    data = page_data(tmp_path / "map.html")
    assert len(data["names"]) == 60 and data["title"] == "toy </script> words"
    assert {g["name"] for g in data["groups"]} == {"animal", "colour"}
    i = data["names"].index("colour40")
    mapped = Vectors(data["names"], v.matrix[[v.index()[w] for w in data["names"]]])
    expected = nearest(mapped, mapped.matrix[i], k=maps.NEIGHBOURS, exclude={"colour40"})
    assert [data["names"][j] for j in data["nbr"][i]] == [w for w, _ in expected]
    assert data["sim"][i] == pytest.approx([s for _, s in expected], abs=1e-3)


@pytest.fixture(scope="module")
def browser():
    from test_serve_page import _chromium

    chromium = _chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.mark.browser
@pytest.mark.slow  # Chromium starts
def test_the_page_renders_searches_and_sends_no_request(browser, tmp_path):
    v = toy_vectors()
    groups = {w: w.rstrip("0123456789") for w in v.words if w[0].isalpha()}
    vec.plot(v, tmp_path / "map.html", method="tsne", groups=groups, title="toy words")
    data = page_data(tmp_path / "map.html")
    requests: list[str] = []
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    page.route("**/*", lambda route: (requests.append(route.request.url), route.abort()))
    page.set_content((tmp_path / "map.html").read_text(encoding="utf-8"))
    page.wait_for_function("document.getElementById('map').dataset.points > 0")
    assert int(page.eval_on_selector("#map", "c => c.dataset.points")) == len(data["names"]) == 90
    assert page.inner_text("#legend").split() == ["groups", *[g["name"] for g in data["groups"]]]

    page.fill("#search", "Number75")  # case does not matter
    page.click("#search-form button")
    page.wait_for_selector("#neighbours li")
    i = data["names"].index("number75")
    listed = page.eval_on_selector_all("#neighbours li", "els => els.map(e => [e.title, Number(e.dataset.sim)])")
    assert [w for w, _ in listed] == [data["names"][j] for j in data["nbr"][i]]
    assert [s for _, s in listed] == pytest.approx(data["sim"][i])
    assert all(w.startswith("number") for w, _ in listed)  # its neighbours are of its own cluster
    x, y = page.evaluate(f"seqlabMap.screen({i})")
    width, height = page.evaluate("seqlabMap.size()")
    assert (x, y) == pytest.approx((width / 2, height / 2), abs=1)  # centred on the word
    assert "number75" in page.inner_text("#selected")

    page.mouse.move(x, y)  # hovering the centred word names it
    page.wait_for_selector("#tip", state="visible")
    assert page.inner_text("#tip").startswith("number75")
    page.click("#neighbours li >> nth=0")  # a neighbour is a link to its own neighbours
    assert page.inner_text("#selected").startswith(listed[0][0])

    page.fill("#search", "zebra")
    page.click("#search-form button")
    assert "not on the map" in page.inner_text("#status")
    page.mouse.wheel(0, -300)  # zooming and panning redraw without a request either
    page.mouse.down()
    page.mouse.move(x + 80, y + 40)
    page.mouse.up()
    assert requests == []
    page.close()
