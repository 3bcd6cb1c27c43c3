// The translator's part of seqlab serve's page: the translation, the n-best list, and the cross-attention in the
// very view `seqlab translate --attention out.html` writes (seqlab.attention_view), one iframe per translation.
// serve.py's page_script() fills in that view's style and script below.
(function (seqlab) {
  'use strict';
  var el = seqlab.el;
  var ATTENTION_STYLE = "/*ATTENTION_STYLE*/";
  var ATTENTION_SCRIPT = "/*ATTENTION_SCRIPT*/";

  function attentionFrame(text, r) {
    var data = [{input: text, translation: r.translation, source: r.src_tokens, target: r.tgt_tokens,
                 maps: {'cross-attention': r.attention}, 'default': 'cross-attention'}];
    var frame = el('iframe', {id: 'attention', class: 'attention', title: 'attention (hover a target token)'});
    frame.srcdoc = '<!DOCTYPE html><html><head><meta charset="utf-8"><style>' + ATTENTION_STYLE +
      '</style></head><body><div id="sentences"></div><script type="application/json" id="attention-data">' +
      JSON.stringify(data).replace(/</g, '\\u003c') + '<\/script><script>' + ATTENTION_SCRIPT + '<\/script></body></html>';
    frame.onload = function () {
      try { frame.style.height = (frame.contentDocument.body.scrollHeight + 30) + 'px'; } catch (e) { /* sized by CSS */ }
    };
    return frame;
  }

  function run(base, text, out) {
    var body = {texts: [text], attention: seqlab.optChecked('attention'), nbest: seqlab.optNumber('nbest') || 1};
    if (seqlab.optNumber('beam')) body.beam = seqlab.optNumber('beam');
    return seqlab.postJSON(base + 'translate', body).then(function (data) {
      var r = data.results[0];
      out.appendChild(el('p', {id: 'translation', class: 'translation'}, r.translation));
      if (r.nbest && r.nbest.length > 1) {
        var list = el('ol', {class: 'nbest'});
        r.nbest.forEach(function (h) {
          list.appendChild(el('li', null, h.translation + (h.normalized_score !== null ? '  (' + h.normalized_score.toFixed(3) + ')' : '')));
        });
        out.append(el('h3', null, 'n-best'), list);
      }
      if (r.attention && r.attention.length) out.append(el('h3', null, 'Attention'), attentionFrame(text, r));
    });
  }

  seqlab.register('translate', {
    placeholder: 'A sentence to translate',
    describe: function (m) { return m.languages ? [m.languages.src + ' → ' + m.languages.tgt] : []; },
    options: function (box) {
      box.append(seqlab.numberOption('beam', 'beam', '', 1, 16), seqlab.numberOption('nbest', 'n-best', 1, 1, 16),
                 seqlab.checkOption('attention', 'attention', true));
    },
    run: run,
    style: [
      '.translation{font-size:1.3em;margin:.2em 0}',
      'iframe.attention{width:100%;border:1px solid var(--line);border-radius:6px;background:#fff;min-height:12em}'
    ].join('\n')
  });
})(window.seqlab);
