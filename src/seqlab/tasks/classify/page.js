// The classifier's part of seqlab serve's page: the label, each label's probability, and why: every word shaded by
// the explanation `seqlab predict --explain` gives (exact linear contributions for bag models, integrated gradients
// otherwise), green for the label and red against it; models that pool with attention also show their weights.
(function (seqlab) {
  'use strict';
  var el = seqlab.el;
  var METHODS = {
    linear: ['exact linear contributions', 'the model is linear in its words: these scores and a bias add up to its logit'],
    'integrated gradients': ['integrated gradients', "each word's share of the logit, along a path from an all-zero input"]
  };

  function bars(probabilities) {
    var box = el('div', {class: 'bars'});
    Object.keys(probabilities).sort(function (a, b) { return probabilities[b] - probabilities[a]; })
      .forEach(function (label) {
        var p = probabilities[label];
        var row = el('div', {class: 'bar'});
        var track = el('div', {class: 'track'});
        var fill = el('div', {class: 'fill'});
        fill.style.width = (100 * p).toFixed(1) + '%';
        track.appendChild(fill);
        row.append(el('span', null, label), track, el('span', null, (100 * p).toFixed(1) + '%'));
        box.appendChild(row);
      });
    return box;
  }

  function signed(x) { return (x >= 0 ? '+' : '') + x.toFixed(3); }

  // one span per token, green (for the label) or red (against), as strong as |score| / the largest |score|
  function explanation(r) {
    var box = el('p', {id: 'explanation', class: 'tokens'});
    var top = seqlab.max(r.token_scores.map(Math.abs));
    r.tokens.forEach(function (t, i) {
      var s = r.token_scores[i] || 0;
      var side = s > 0 ? 'for' : s < 0 ? 'against' : 'neutral';
      var span = el('span', {class: 'tok ' + side, 'data-score': String(s),
                             title: signed(s) + (s < 0 ? ' against ' : ' for ') + r.label}, t);
      var alpha = (0.8 * Math.abs(s) / top).toFixed(3);
      span.style.backgroundColor = s < 0 ? 'rgba(220, 38, 38, ' + alpha + ')' : 'rgba(22, 163, 74, ' + alpha + ')';
      box.append(span, ' ');
    });
    return box;
  }

  function attention(r) {
    var box = el('p', {id: 'attention-weights', class: 'tokens'});
    var top = seqlab.max(r.attention);
    r.tokens.forEach(function (t, i) {
      var w = r.attention[i] || 0;
      var span = el('span', {class: 'tok' + (w >= 0.5 * top ? ' hl' : ''), 'data-weight': w.toFixed(4),
                             title: 'attention ' + w.toFixed(3)}, t);
      span.style.backgroundColor = 'rgba(255, 140, 0, ' + (0.85 * w / top).toFixed(3) + ')';
      box.append(span, ' ');
    });
    return box;
  }

  function run(base, text, out) {
    return seqlab.postJSON(base + 'classify', {texts: [text], explain: true}).then(function (data) {
      var r = data.results[0];
      var verdict = el('div', {class: 'verdict'});
      verdict.append(el('span', {id: 'label', class: 'label'}, r.label),
                     el('span', {id: 'confidence', class: 'confidence'}, (100 * r.confidence).toFixed(1) + '%'));
      out.append(verdict, bars(r.probabilities));
      if (r.tokens && r.token_scores) {
        var method = METHODS[r.method] || [r.method, ''];
        var line = el('p', {id: 'method', class: 'method'});
        line.append('method: ', el('b', null, method[0]), method[1] ? ' (' + method[1] + ')' : '');
        out.append(el('h3', null, 'Why ' + r.label + ': each word shaded green for it, red against it (hover for its score)'),
                   explanation(r), line);
      }
      if (r.tokens && r.attention) {
        out.append(el('h3', null, 'Attention weights (outlined: at least half the largest)'), attention(r));
      }
    });
  }

  seqlab.register('classify', {
    placeholder: 'Type a review, e.g. "A wonderful, moving film with a superb cast."',
    run: run,
    style: [
      '.verdict{display:flex;align-items:baseline;gap:.7em;font-size:1.5em}',
      '.verdict .label{font-weight:650}',
      '.verdict .confidence{color:var(--soft);font-size:.75em}',
      '.bars{margin:.6em 0 1em;max-width:28em}',
      '.bar{display:grid;grid-template-columns:7em 1fr 4em;gap:.5em;align-items:center;font-size:.85em;margin:.15em 0}',
      '.bar .track{background:#eef0f4;border-radius:3px;height:.7em}',
      '.bar .fill{background:var(--accent);border-radius:3px;height:100%}',
      '.tokens{line-height:2.1}',
      '.tokens .tok{padding:.1em .2em;border-radius:3px}',
      '.tokens .tok.hl{font-weight:650;outline:1px solid rgba(200,90,0,.6)}',
      '.method{font-size:.85em;color:var(--soft);margin:.2em 0 0}'
    ].join('\n')
  });
})(window.seqlab);
