"""Maps of vectors: reduce them to 2-D (PCA, t-SNE, UMAP) and draw them as a PNG or a self-contained HTML page.

``seqlab vectors VECS --plot map.png|map.html`` maps words, ``seqlab embed MODEL_DIR --plot map.html`` maps texts;
both come here. Torch-free: numpy, matplotlib, and the reduction library of the optional extra ``seqlab[maps]``.

- **PCA** is numpy's SVD: exact, instant, no extra; it shows the two directions of largest variance, which in word
  vectors are mostly frequency and topic, so clusters overlap.
- **t-SNE** (van der Maaten & Hinton 2008) keeps neighbourhoods: openTSNE's FFT-accelerated gradients (Linderman et
  al. 2019) map 5,000 GloVe words in seconds where scikit-learn's Barnes-Hut takes several times longer
  (docs/readme-embeddings-maps.md has the measurement); scikit-learn's is used when openTSNE is not installed.
- **UMAP** (McInnes et al. 2018) through umap-learn, which compiles with numba on first use (tens of seconds once).

Vectors are compared by cosine everywhere (each row scaled to unit length first, as the neighbours are), and a
map's search lists each point's nearest neighbours by cosine in the full space, not on the map.

The HTML page holds its data and script inline and asks for nothing over the network (a test checks it in a
headless browser): pan by dragging, zoom with the wheel, hover for the word, a search box that centres a word and
lists its neighbours, colours from a grouping.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.errors import SeqlabError

METHODS = ("pca", "tsne", "umap")
FORMATS = (".png", ".html")
NEIGHBOURS = 10  # neighbours listed per point on the HTML page
TEXT_SHOWN = 300  # characters of a text the HTML page keeps (5,000 IMDB reviews whole would be 6 MB)
PCA_FIRST = 50  # t-SNE and UMAP read the first 50 principal components (the usual first step; faster, less noise)
PNG_LABELS = 400  # at most this many words labelled on a PNG (those that fit without overlapping)
OTHER = "#9aa3ad"  # points of no group
# Tableau's 10 colours, then 10 lighter ones: distinct for the first groups, which are the largest
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#9edae5",
           "#dbdb8d", "#393b79"]


def check_method(method: str) -> str:
    if method not in METHODS:
        raise SeqlabError(f"unknown --method {method!r}; choose one of {', '.join(METHODS)}")
    return method


def check_output(path: str | Path) -> Path:
    out = Path(path)
    if out.suffix.lower() not in FORMATS:
        raise SeqlabError(f"--plot {path}: write the map as a .png (a figure) or a .html (an interactive page)")
    return out


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (a zero row stays zero): dot products are then cosines."""
    m = np.asarray(matrix, dtype=np.float32)
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


# ---------------------------------------------------------------------------- reduction
def pca(matrix: np.ndarray, components: int = 2) -> np.ndarray:
    """The first ``components`` principal components of the rows (numpy's SVD of the centred matrix)."""
    centred = matrix - matrix.mean(0, keepdims=True)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)  # (N, r), (r,)
    out = u[:, :components] * s[:components]
    if out.shape[1] < components:  # fewer dimensions than asked: pad with zeros
        out = np.pad(out, ((0, 0), (0, components - out.shape[1])))
    return out.astype(np.float32)


def reduce(matrix: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """(N, D) vectors -> (N, 2) map coordinates by ``method`` (pca | tsne | umap), on unit-length rows."""
    check_method(method)
    x = unit_rows(matrix)
    n = len(x)
    if n < 3 or method == "pca":
        return pca(x)
    if x.shape[1] > PCA_FIRST:
        x = pca(x, PCA_FIRST)
    if method == "tsne":
        return _tsne(x, seed)
    return _umap(x, seed)


def _tsne(x: np.ndarray, seed: int) -> np.ndarray:
    perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3.0)))  # t-SNE needs perplexity < points
    try:
        from openTSNE import TSNE
    except ImportError:
        try:
            from sklearn.manifold import TSNE as SKTSNE
        except ImportError:
            raise SeqlabError("--method tsne needs openTSNE: pip install 'seqlab[maps]'") from None
        reducer = SKTSNE(2, perplexity=perplexity, init="pca", metric="cosine", random_state=seed)
        return np.asarray(reducer.fit_transform(x), dtype=np.float32)
    embedding = TSNE(perplexity=perplexity, metric="cosine", initialization="pca", random_state=seed,
                     n_jobs=_threads(), verbose=False).fit(x)
    return np.asarray(embedding, dtype=np.float32)


def _umap(x: np.ndarray, seed: int) -> np.ndarray:
    try:
        import umap
    except ImportError:
        raise SeqlabError("--method umap needs umap-learn: pip install 'seqlab[maps]'") from None
    import warnings

    with warnings.catch_warnings():  # "n_jobs overridden by random_state": reproducible maps are the point here
        warnings.simplefilter("ignore")
        reducer = umap.UMAP(n_neighbors=min(15, len(x) - 1), metric="cosine", random_state=seed)
        return np.asarray(reducer.fit_transform(x), dtype=np.float32)


def _threads() -> int:
    import os

    return int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1)


def neighbours(matrix: np.ndarray, k: int = NEIGHBOURS) -> tuple[np.ndarray, np.ndarray]:
    """Each row's ``k`` nearest other rows by cosine in the full space: indices (N, k) and similarities (N, k)."""
    x = unit_rows(matrix)
    n = len(x)
    k = max(0, min(k, n - 1))
    index = np.zeros((n, k), dtype=np.int64)
    sims = np.zeros((n, k), dtype=np.float32)
    for start in range(0, n, 1024):  # (chunk, N) similarities at a time: 5,000 words need no more than 20 MB
        block = x[start: start + 1024] @ x.T  # (C, N)
        rows = np.arange(len(block))
        block[rows, start + rows] = -np.inf  # not its own neighbour
        top = np.argpartition(-block, k, axis=1)[:, :k] if k < n else np.argsort(-block, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(block, top, 1), axis=1)
        index[start: start + len(block)] = np.take_along_axis(top, order, 1)
        sims[start: start + len(block)] = np.take_along_axis(block, index[start: start + len(block)], 1)
    return index, sims


# ---------------------------------------------------------------------------- groups and colours
def group_colours(groups: Sequence[str | None]) -> dict[str, str]:
    """A colour per group name, the largest groups first (past the palette: the rest share the last colours)."""
    counts: dict[str, int] = {}
    for g in groups:
        if g is not None:
            counts[g] = counts.get(g, 0) + 1
    ranked = sorted(counts, key=lambda g: (-counts[g], g))
    return {g: PALETTE[min(i, len(PALETTE) - 1)] for i, g in enumerate(ranked)}


# ---------------------------------------------------------------------------- the PNG
def map_png(names: Sequence[str], coords: np.ndarray, out: Path, *, groups: Sequence[str | None] | None = None,
            highlight: Sequence[int] = (), title: str = "", label_points: bool = True) -> int:
    """A static figure: points coloured by group (a legend names them), the highlighted points ringed and always
    labelled, then as many other points labelled as fit without two labels overlapping (in the order given:
    frequent words first). Returns how many labels were drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from seqlab.files import atomic_path

    groups = list(groups) if groups is not None else [None] * len(names)
    colours = group_colours(groups)
    point_colours = [colours.get(g, OTHER) if g is not None else OTHER for g in groups]
    fig, ax = plt.subplots(figsize=(11, 8.5), dpi=100)
    small = 7 if len(names) > 1000 else 14
    sizes = [small if c == OTHER else 2.5 * small for c in point_colours]  # grouped points stand out
    ax.scatter(coords[:, 0], coords[:, 1], s=sizes, c=point_colours, alpha=0.75, linewidths=0)
    if len(highlight):
        h = np.asarray(highlight)
        ax.scatter(coords[h, 0], coords[h, 1], s=70, facecolors="none", edgecolors="#111", linewidths=1.2)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    pad = 0.04 * (np.ptp(coords, axis=0) + 1e-6)
    ax.set_xlim(coords[:, 0].min() - pad[0], coords[:, 0].max() + pad[0])
    ax.set_ylim(coords[:, 1].min() - pad[1], coords[:, 1].max() + pad[1])
    if title:
        ax.set_title(title, fontsize=11, loc="left")
    shown = [g for g in colours][: len(PALETTE)]
    if shown:
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], marker="o", linestyle="", color=colours[g], label=g) for g in shown]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=9,
                  title="groups", title_fontsize=9)
    labelled = _place_labels(fig, ax, names, coords, point_colours, list(highlight), label_points)
    fig.tight_layout()
    import io

    from PIL import Image  # matplotlib's own dependency

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    # 256 colours are plenty for dots and text, and make the file a third of the size (a README image)
    with Image.open(buffer) as image, atomic_path(out) as tmp:
        image.convert("RGB").quantize(colors=256).save(tmp, format="PNG", optimize=True)
    return labelled


def _place_labels(fig, ax, names: Sequence[str], coords: np.ndarray, colours: list[str], highlight: list[int],
                  label_points: bool) -> int:
    """Greedy label placement: for each point in turn (highlighted ones first), the first of four spots beside it
    (right, left, above, below) whose box overlaps no label placed before and stays in the axes; else no label."""
    fig.canvas.draw()  # the axes' final size, for the display coordinates
    to_px = ax.transData.transform
    x0, y0, x1, y1 = ax.get_window_extent().extents
    px = to_px(coords)  # (N, 2) display pixels
    scale = fig.dpi / 72.0
    placed = np.zeros((0, 4))  # boxes (left, bottom, right, top) in pixels
    grouped = [i for i, c in enumerate(colours) if c != OTHER]  # after the highlighted points: the grouped ones
    order = list(dict.fromkeys([*highlight, *(grouped if label_points else []),
                                *(range(len(names)) if label_points else [])]))
    inverse = ax.transData.inverted()
    count = 0
    for i in order:
        is_high = i in highlight
        size = 9.5 if is_high else 7.5
        text = names[i] if len(names[i]) <= 24 else names[i][:23] + "…"
        w, h = 0.6 * size * scale * len(text) + 2, 1.25 * size * scale
        x, y = px[i]
        gap = 9 if is_high else 4  # clear of a highlighted point's ring
        for dx, dy in ((gap, -h / 2), (-gap - w, -h / 2), (-w / 2, gap), (-w / 2, -gap - h)):
            box = np.array([x + dx, y + dy, x + dx + w, y + dy + h])
            inside = box[0] >= x0 and box[2] <= x1 and box[1] >= y0 and box[3] <= y1
            overlaps = bool(len(placed)) and bool(np.any((placed[:, 0] < box[2]) & (placed[:, 2] > box[0])
                                                         & (placed[:, 1] < box[3]) & (placed[:, 3] > box[1])))
            if (inside or is_high) and not overlaps:
                anchor = inverse.transform((box[0], box[1]))
                ink = "#111" if is_high else "#333" if colours[i] == OTHER else colours[i]
                ax.text(anchor[0], anchor[1], text, fontsize=size, ha="left", va="bottom", color=ink,
                        fontweight="bold" if is_high else "normal")
                placed = np.vstack([placed, box])
                count += 1
                break
        if count >= PNG_LABELS + len(highlight):
            break
    return count


# ---------------------------------------------------------------------------- the HTML page
def map_html(names: Sequence[str], coords: np.ndarray, out: Path, *, vectors: np.ndarray,
             groups: Sequence[str | None] | None = None, highlight: Sequence[int] = (), title: str = "",
             note: str = "", kind: str = "words") -> None:
    """The interactive page: every point with its name, group, map position and its nearest neighbours by cosine
    in the full space (computed here from ``vectors``), as JSON inside the page, and the script that draws them."""
    from seqlab.files import write_text_atomic

    groups = list(groups) if groups is not None else [None] * len(names)
    colours = group_colours(groups)
    names_of_groups = list(colours)
    names = [n if len(n) <= TEXT_SHOWN else n[: TEXT_SHOWN - 1] + "…" for n in names]  # a review is kept short
    group_index = {g: i for i, g in enumerate(names_of_groups)}
    index, sims = neighbours(vectors)
    span = coords - coords.mean(0)
    data = {
        "title": title, "note": note, "kind": kind,
        "names": list(names),
        "x": np.round(span[:, 0], 4).tolist(), "y": np.round(span[:, 1], 4).tolist(),
        "group": [group_index[g] if g is not None else -1 for g in groups],
        "groups": [{"name": g, "colour": colours[g]} for g in names_of_groups],
        "nbr": index.tolist(), "sim": np.round(sims, 3).tolist(),
        "highlight": [int(i) for i in highlight],
    }
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    page = (PAGE.replace("{{TITLE}}", html.escape(title or "map"))
                .replace("{{DATA}}", payload))
    write_text_atomic(out, page)


def write_map(out: str | Path, names: Sequence[str], vectors: np.ndarray, *, method: str = "tsne",
              groups: Sequence[str | None] | None = None, highlight: Sequence[int] = (), title: str = "",
              kind: str = "words", seed: int = 0, log: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """Reduce ``vectors`` by ``method`` and write the map to ``out`` (.png or .html, by its suffix). Returns what was
    drawn: ``points``, ``method``, ``seconds`` of the reduction, ``out`` (and ``labels`` for a PNG)."""
    path = check_output(out)
    check_method(method)
    if len(names) != len(vectors):
        raise ValueError(f"{len(names)} names for {len(vectors)} vectors")
    if len(names) == 0:
        raise SeqlabError("nothing to map: no vectors")
    started = time.perf_counter()
    coords = reduce(vectors, method, seed)
    seconds = time.perf_counter() - started
    if log:
        log(f"{method}: {len(names)} points in {seconds:.1f}s")
    summary: dict[str, Any] = {"points": len(names), "method": method, "seconds": round(seconds, 2), "out": str(path)}
    if path.suffix.lower() == ".png":
        summary["labels"] = map_png(names, coords, path, groups=groups, highlight=highlight, title=title,
                                    label_points=kind == "words")
    else:
        note = (f"{len(names)} {kind}, {method.upper() if method != 'tsne' else 't-SNE'}; "
                f"neighbours by cosine in the full {vectors.shape[1]}-d space")
        map_html(names, coords, path, vectors=vectors, groups=groups, highlight=highlight, title=title, note=note,
                 kind=kind)
    return summary


PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{TITLE}}</title>
<style>
*{box-sizing:border-box}
html,body{margin:0;height:100%;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2430}
#map{position:absolute;inset:0;width:100%;height:100%;cursor:grab;background:#fafbfc}
#map.dragging{cursor:grabbing}
#panel{position:absolute;top:10px;left:10px;width:19em;max-height:calc(100% - 20px);overflow:auto;background:#fff;
  border:1px solid #d9dde4;border-radius:8px;padding:.7em .8em;font-size:.85em;box-shadow:0 1px 4px rgba(0,0,0,.06)}
#panel h1{font-size:1.05em;margin:0 0 .2em}
#note{color:#5b6473;margin:0 0 .6em}
#search-form{display:flex;gap:.3em}
#search{flex:1;padding:.3em .4em;border:1px solid #d9dde4;border-radius:5px;font:inherit}
#search-form button,#zoom button{border:0;border-radius:5px;background:#2f5fd0;color:#fff;padding:.3em .7em;
  cursor:pointer;font:inherit}
#status{color:#5b6473;margin:.4em 0}
#neighbours{list-style:none;padding:0;margin:.2em 0 .6em}
#neighbours li{display:flex;justify-content:space-between;gap:.6em;padding:.12em .3em;border-radius:4px;cursor:pointer}
#neighbours li:hover{background:#eef2fb}
#neighbours .sim{color:#5b6473;font-variant-numeric:tabular-nums}
#legend div{display:flex;align-items:center;gap:.4em;margin:.1em 0}
#legend .sw{width:.8em;height:.8em;border-radius:50%;display:inline-block}
#zoom{position:absolute;right:10px;top:10px;display:flex;gap:.3em}
#tip{position:absolute;pointer-events:none;background:rgba(29,36,48,.92);color:#fff;padding:.25em .5em;border-radius:4px;
  font-size:.8em;max-width:28em;display:none;white-space:normal}
</style>
</head>
<body>
<canvas id="map" aria-label="map"></canvas>
<div id="panel">
  <h1 id="title"></h1>
  <p id="note"></p>
  <form id="search-form"><input id="search" type="search" placeholder="find a word" aria-label="search"
    autocomplete="off"><button type="submit">Find</button></form>
  <div id="status" role="status"></div>
  <div id="selected"></div>
  <ul id="neighbours"></ul>
  <div id="legend"></div>
</div>
<div id="zoom"><button id="zoom-in" title="zoom in">+</button><button id="zoom-out" title="zoom out">−</button>
  <button id="reset" title="show everything">reset</button></div>
<div id="tip"></div>
<script type="application/json" id="map-data">{{DATA}}</script>
<script>
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('map-data').textContent);
  var N = D.names.length, canvas = document.getElementById('map'), ctx = canvas.getContext('2d');
  var view = {cx: 0, cy: 0, scale: 1}, W = 0, H = 0, selected = -1, hovered = -1, ratio = window.devicePixelRatio || 1;
  var OTHER = '#9aa3ad', lower = D.names.map(function (s) { return s.toLowerCase(); });
  var high = {}; D.highlight.forEach(function (i) { high[i] = true; });
  function $(id) { return document.getElementById(id); }
  function colour(i) { return D.group[i] >= 0 ? D.groups[D.group[i]].colour : OTHER; }
  function short(s) { return s.length > 40 ? s.slice(0, 39) + '…' : s; }
  function sx(i) { return (D.x[i] - view.cx) * view.scale + W / 2; }
  function sy(i) { return H / 2 - (D.y[i] - view.cy) * view.scale; }
  function fit() {
    var minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
    for (var i = 0; i < N; i++) {
      minX = Math.min(minX, D.x[i]); maxX = Math.max(maxX, D.x[i]); minY = Math.min(minY, D.y[i]); maxY = Math.max(maxY, D.y[i]);
    }
    view.cx = (minX + maxX) / 2; view.cy = (minY + maxY) / 2;
    view.scale = 0.9 * Math.min(W / Math.max(maxX - minX, 1e-6), H / Math.max(maxY - minY, 1e-6));
    view.fitted = view.scale;
  }
  function resize() {
    W = canvas.clientWidth; H = canvas.clientHeight;
    canvas.width = W * ratio; canvas.height = H * ratio;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  }
  function label(i, bold, boxes) {
    var text = short(D.names[i]);
    ctx.font = (bold ? '600 13px' : '11px') + ' system-ui, sans-serif';
    var w = ctx.measureText(text).width + 4, h = bold ? 15 : 13, x = sx(i) + 5, y = sy(i) - h / 2;
    for (var b = 0; b < boxes.length; b++) {
      var o = boxes[b];
      if (x < o[2] && x + w > o[0] && y < o[3] && y + h > o[1]) { if (!bold) return false; break; }
    }
    boxes.push([x, y, x + w, y + h]);
    if (bold) { ctx.fillStyle = 'rgba(255,255,255,.85)'; ctx.fillRect(x - 2, y, w, h); }
    ctx.fillStyle = bold ? '#111' : '#333';
    ctx.fillText(text, x, y + h - 3);
    return true;
  }
  function draw() {
    ctx.clearRect(0, 0, W, H);
    var r = N > 2000 ? 2.2 : 3.2, drawn = 0;
    for (var i = 0; i < N; i++) {
      var x = sx(i), y = sy(i);
      if (x < -5 || y < -5 || x > W + 5 || y > H + 5) continue;
      ctx.fillStyle = colour(i); ctx.globalAlpha = selected >= 0 ? 0.45 : 0.8;
      ctx.beginPath(); ctx.arc(x, y, r, 0, 6.2832); ctx.fill(); drawn++;
    }
    ctx.globalAlpha = 1;
    var boxes = [], near = selected >= 0 ? D.nbr[selected] : [];
    var strong = D.highlight.concat(near, selected >= 0 ? [selected] : [], hovered >= 0 ? [hovered] : []);
    strong.forEach(function (i) {
      ctx.strokeStyle = i === selected ? '#d62728' : '#111'; ctx.lineWidth = i === selected ? 2 : 1;
      ctx.beginPath(); ctx.arc(sx(i), sy(i), r + 3, 0, 6.2832); ctx.stroke();
      label(i, true, boxes);
    });
    if (D.kind === 'words') {
      for (var j = 0, shown = 0; j < N && shown < 250; j++) {
        var px = sx(j), py = sy(j);
        if (px < 0 || py < 0 || px > W || py > H) continue;
        if (label(j, false, boxes)) shown++;
      }
    }
    canvas.dataset.points = String(drawn);
  }
  function nearest(mx, my) {
    var best = -1, bestD = 64;
    for (var i = 0; i < N; i++) {
      var dx = sx(i) - mx, dy = sy(i) - my, d = dx * dx + dy * dy;
      if (d < bestD) { bestD = d; best = i; }
    }
    return best;
  }
  function select(i) {
    selected = i;
    var list = $('neighbours'); list.textContent = '';
    $('selected').textContent = '';
    if (i < 0) { draw(); return; }
    view.cx = D.x[i]; view.cy = D.y[i];
    view.scale = Math.max(view.scale, 4 * view.fitted);
    var head = document.createElement('b'); head.textContent = D.names[i];
    $('selected').append(head, D.group[i] >= 0 ? ' (' + D.groups[D.group[i]].name + ')' : '', document.createElement('br'),
                         'nearest by cosine:');
    D.nbr[i].forEach(function (j, k) {
      var li = document.createElement('li'), name = document.createElement('span'), sim = document.createElement('span');
      name.textContent = short(D.names[j]); sim.textContent = D.sim[i][k].toFixed(3); sim.className = 'sim';
      li.dataset.index = String(j); li.dataset.sim = String(D.sim[i][k]); li.title = D.names[j];
      li.append(name, sim); li.addEventListener('click', function () { select(j); });
      list.appendChild(li);
    });
    draw();
  }
  function find(query) {
    var q = query.trim().toLowerCase();
    if (!q) return -1;
    var i = D.names.indexOf(query.trim());
    if (i < 0) i = lower.indexOf(q);
    if (i < 0) for (var k = 0; k < N; k++) if (lower[k].indexOf(q) === 0) { i = k; break; }
    if (i < 0) for (var m = 0; m < N; m++) if (lower[m].indexOf(q) >= 0) { i = m; break; }
    return i;
  }
  function legend() {
    var box = $('legend');
    if (!D.groups.length) return;
    var head = document.createElement('b'); head.textContent = 'groups'; box.appendChild(head);
    D.groups.forEach(function (g) {
      var row = document.createElement('div'), sw = document.createElement('span');
      sw.className = 'sw'; sw.style.background = g.colour;
      row.append(sw, g.name); box.appendChild(row);
    });
  }
  function zoomAt(f, mx, my) {
    var wx = (mx - W / 2) / view.scale + view.cx, wy = (H / 2 - my) / view.scale + view.cy;
    view.scale *= f;
    view.cx = wx - (mx - W / 2) / view.scale; view.cy = wy - (H / 2 - my) / view.scale;
    draw();
  }
  var drag = null;
  canvas.addEventListener('mousedown', function (e) {
    drag = {x: e.clientX, y: e.clientY, moved: false}; canvas.classList.add('dragging');
  });
  window.addEventListener('mouseup', function (e) {
    if (drag && !drag.moved) { var i = nearest(e.clientX, e.clientY); if (i >= 0) select(i); }
    drag = null; canvas.classList.remove('dragging');
  });
  window.addEventListener('mousemove', function (e) {
    if (drag) {
      var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 2) drag.moved = true;
      view.cx -= dx / view.scale; view.cy += dy / view.scale; drag.x = e.clientX; drag.y = e.clientY; draw();
      return;
    }
    var i = e.target === canvas ? nearest(e.clientX, e.clientY) : -1, tip = $('tip');
    if (i !== hovered) { hovered = i; draw(); }
    if (i < 0) { tip.style.display = 'none'; return; }
    tip.textContent = D.names[i] + (D.group[i] >= 0 ? '  (' + D.groups[D.group[i]].name + ')' : '');
    tip.style.display = 'block'; tip.style.left = (e.clientX + 12) + 'px'; tip.style.top = (e.clientY + 12) + 'px';
  });
  canvas.addEventListener('wheel', function (e) {
    e.preventDefault(); zoomAt(Math.exp(-e.deltaY * 0.0015), e.clientX, e.clientY);
  }, {passive: false});
  $('zoom-in').addEventListener('click', function () { zoomAt(1.5, W / 2, H / 2); });
  $('zoom-out').addEventListener('click', function () { zoomAt(1 / 1.5, W / 2, H / 2); });
  $('reset').addEventListener('click', function () { fit(); select(-1); });
  $('search').placeholder = D.kind === 'words' ? 'find a word' : 'find a text';
  $('search-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var i = find($('search').value);
    $('status').textContent = i < 0 ? 'not on the map: ' + $('search').value : '';
    select(i);
  });
  window.addEventListener('resize', function () { resize(); draw(); });
  $('title').textContent = D.title || 'map';
  $('note').textContent = D.note;
  legend(); resize(); fit(); draw();
  window.seqlabMap = {data: D, view: view, select: select, find: find,
                      screen: function (i) { return [sx(i), sy(i)]; }, size: function () { return [W, H]; }};
})();
</script>
</body>
</html>
"""
