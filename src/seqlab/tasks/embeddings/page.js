// The embeddings model's part of seqlab serve's page: a word's nearest words, each with its cosine similarity as a bar.
(function (seqlab) {
  'use strict';
  var el = seqlab.el;

  function run(base, text, out) {
    var words = text.split(/\s+/).filter(function (w) { return w.length > 0; });
    var body = {words: words.length ? words : [text], k: seqlab.optNumber('k') || 10};
    return seqlab.postJSON(base + 'neighbours', body).then(function (r) {
      r.results.forEach(function (result) {
        var box = el('div', {class: 'neighbours'});
        box.appendChild(el('h3', {}, result.word + (result.known ? '' : ' (not in the vocabulary)')));
        result.neighbours.forEach(function (n) {
          var row = el('div', {class: 'nb-row'});
          row.appendChild(el('span', {class: 'nb-word'}, n.word));
          var bar = el('span', {class: 'nb-bar', title: n.similarity.toFixed(3)});
          bar.style.width = Math.max(2, Math.round(200 * Math.max(0, n.similarity))) + 'px';
          row.appendChild(bar);
          row.appendChild(el('span', {class: 'nb-sim'}, n.similarity.toFixed(3)));
          box.appendChild(row);
        });
        out.appendChild(box);
      });
    });
  }

  seqlab.register('embeddings', {
    placeholder: 'Words, separated by spaces',
    options: function (box) { box.append(seqlab.numberOption('k', 'neighbours', 10, 1, 100)); },
    run: run,
    style: [
      '.neighbours h3{margin:.6em 0 .3em}',
      '.nb-row{display:flex;align-items:center;gap:.6em;line-height:1.6}',
      '.nb-word{min-width:9em}',
      '.nb-bar{display:inline-block;height:.7em;background:var(--accent,#4a7)}',
      '.nb-sim{color:var(--soft);font-size:.9em}'
    ].join('\n')
  });
})(window.seqlab);
