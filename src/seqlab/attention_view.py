"""Cross-attention of a translation, as a heatmap (matplotlib, Agg) or one self-contained HTML page.

Both take maps shaped (layers, heads, target tokens, source tokens); the RNN has one layer
and one head. The page needs no network: its data, script and style are inline. Hovering
a target token highlights the source tokens it attended to, shaded by weight, with the
weights written under them; a selector switches between the last layer's average, each
layer's average and every single head.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.errors import SeqlabError
from seqlab.files import write_text_atomic


def select_map(maps: np.ndarray, layer: int | None = None, head: int | None = None) -> tuple[np.ndarray, str]:
    """(L, h, T, S) -> (T, S) of ``layer`` (1-based, default the last) and ``head`` (1-based, default the mean)."""
    L, H = maps.shape[:2]
    layer = L if layer is None else layer
    if not 1 <= layer <= L:
        raise SeqlabError(f"--layer {layer}: the model has {L} decoder layer{'s' if L > 1 else ''} (1..{L})")
    if head is not None and not 1 <= head <= H:
        raise SeqlabError(f"--head {head}: the model has {H} head{'s' if H > 1 else ''} (1..{H})")
    if head is None:
        return maps[layer - 1].mean(axis=0), f"layer {layer}, mean of {H} heads" if H > 1 else f"layer {layer}"
    return maps[layer - 1, head - 1], f"layer {layer}, head {head}"


def map_choices(maps: np.ndarray) -> dict[str, list[list[float]]]:
    """Every view the page offers: each layer's head average, then every head (rounded to 3 digits)."""
    L, H = maps.shape[:2]
    out = {}
    for layer in range(1, L + 1):
        for head in [None, *range(1, H + 1)] if H > 1 else [None]:
            weights, label = select_map(maps, layer, head)
            out[label] = np.round(weights.astype(float), 3).tolist()
    return out


def heatmap_png(src_tokens: list[str], tgt_tokens: list[str], weights: np.ndarray, path: Path,
                title: str = "") -> None:
    """Source tokens on x, target tokens on y, darker = more attention."""
    from seqlab.plots import _pyplot, _save

    plt = _pyplot()
    weights = np.asarray(weights)[: len(tgt_tokens), : len(src_tokens)]
    fig, ax = plt.subplots(figsize=(max(3.0, 0.45 * len(src_tokens) + 1.5), max(2.5, 0.35 * len(tgt_tokens) + 1.5)))
    ax.imshow(weights, cmap="Greys", vmin=0.0, vmax=max(float(weights.max(initial=0.0)), 1e-9), aspect="auto")
    ax.set_xticks(range(len(src_tokens)), src_tokens, rotation=60, ha="right")
    ax.set_yticks(range(len(tgt_tokens)), tgt_tokens)
    ax.set_xlabel("source")
    ax.set_ylabel("target")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    _save(fig, Path(path))
    plt.close(fig)


# the page's style and script (public: the translation task also puts them into seqlab serve's page)
STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
.sent{border:1px solid #ddd;border-radius:6px;padding:.8em 1em;margin:0 0 1.2em}
.input{color:#555;font-size:.9em;margin-bottom:.4em}
.row{display:flex;flex-wrap:wrap;gap:.25em;align-items:flex-end;margin:.35em 0}
.tok{display:inline-flex;flex-direction:column;align-items:center;padding:.15em .35em;border-radius:4px;
     border:1px solid #eee;min-width:1.2em}
.tgt .tok{cursor:pointer;background:#f4f7ff}
.tgt .tok.on{outline:2px solid #3060d0}
.w{font-size:.7em;color:#666;min-height:1em}
label{font-size:.85em;color:#444}
"""

SCRIPT = """
(function(){
  var data = JSON.parse(document.getElementById('attention-data').textContent);
  var root = document.getElementById('sentences');
  data.forEach(function(s){
    var box = document.createElement('div'); box.className = 'sent';
    var inp = document.createElement('div'); inp.className = 'input';
    inp.textContent = s.input + '  \\u2192  ' + s.translation; box.appendChild(inp);
    var lab = document.createElement('label'); lab.textContent = 'attention: ';
    var sel = document.createElement('select');
    Object.keys(s.maps).forEach(function(k){
      var o = document.createElement('option'); o.value = k; o.textContent = k;
      if (k === s.default) o.selected = true; sel.appendChild(o);
    });
    lab.appendChild(sel); box.appendChild(lab);
    var srcRow = document.createElement('div'); srcRow.className = 'row src';
    var srcCells = s.source.map(function(t){
      var c = document.createElement('span'); c.className = 'tok';
      var w = document.createElement('span'); w.className = 'w';
      var x = document.createElement('span'); x.textContent = t;
      c.appendChild(x); c.appendChild(w); srcRow.appendChild(c); return {cell: c, w: w};
    });
    var tgtRow = document.createElement('div'); tgtRow.className = 'row tgt';
    var tgtCells = [];
    function clear(){
      srcCells.forEach(function(c){ c.cell.style.background = ''; c.w.textContent = ''; });
      tgtCells.forEach(function(c){ c.classList.remove('on'); });
    }
    function show(i){
      clear(); tgtCells[i].classList.add('on');
      var row = s.maps[sel.value][i] || [];
      var top = Math.max.apply(null, row.concat([1e-9]));
      srcCells.forEach(function(c, j){
        var v = row[j] || 0;
        c.cell.style.background = 'rgba(255,120,0,' + (0.9 * v / top).toFixed(3) + ')';
        c.w.textContent = v.toFixed(2);
      });
    }
    s.target.forEach(function(t, i){
      var c = document.createElement('span'); c.className = 'tok'; c.textContent = t;
      c.addEventListener('mouseenter', function(){ show(i); });
      c.addEventListener('focus', function(){ show(i); }); c.tabIndex = 0;
      tgtRow.appendChild(c); tgtCells.push(c);
    });
    sel.addEventListener('change', clear);
    var h1 = document.createElement('div'); h1.className = 'input'; h1.textContent = 'source';
    var h2 = document.createElement('div'); h2.className = 'input'; h2.textContent = 'target (hover a token)';
    box.appendChild(h1); box.appendChild(srcRow); box.appendChild(h2); box.appendChild(tgtRow);
    root.appendChild(box);
  });
})();
"""


def attention_html(sentences: list[dict[str, Any]], path: Path, title: str = "attention") -> None:
    """One page for several sentences; each item has ``input``, ``translation``, ``source`` and
    ``target`` tokens, ``maps`` (name -> (T, S) weights) and the ``default`` map's name."""
    payload = json.dumps(sentences, ensure_ascii=False).replace("</", "<\\/")  # never closes the script tag
    page = (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h3>{html.escape(title)}</h3><div id=\"sentences\"></div>"
            f"<script type=\"application/json\" id=\"attention-data\">{payload}</script>"
            f"<script>{SCRIPT}</script></body></html>\n")
    write_text_atomic(path, page)
