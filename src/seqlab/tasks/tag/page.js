// The tagger's part of seqlab serve's page: the text with its entities marked, one colour per entity type.
(function (seqlab) {
  'use strict';
  var el = seqlab.el;
  var ENTITY_COLOURS = {PER: '#ffd2a8', LOC: '#bfe3c0', ORG: '#c7d7ff', MISC: '#f3c7ec'};

  function colour(type) {
    if (ENTITY_COLOURS[type]) return ENTITY_COLOURS[type];
    var h = 0;
    for (var i = 0; i < type.length; i++) h = (h * 31 + type.charCodeAt(i)) % 360;
    return 'hsl(' + h + ', 70%, 82%)';
  }

  function run(base, text, out) {
    return seqlab.postJSON(base + 'tag', {texts: [text]}).then(function (data) {
      var r = data.results[0];
      var para = el('p', {id: 'entities', class: 'tagged'});
      var pos = 0;
      var types = [];
      r.entities.slice().sort(function (a, b) { return a.start - b.start; }).forEach(function (e) {
        if (e.start < pos) return;  // overlapping spans: the first wins
        para.append(text.slice(pos, e.start));
        var title = e.type + (e.confidence !== null && e.confidence !== undefined ? ' ' + (100 * e.confidence).toFixed(0) + '%' : '');
        var mark = el('mark', {class: 'ent', 'data-type': e.type, title: title}, text.slice(e.start, e.end));
        mark.style.backgroundColor = colour(e.type);
        mark.appendChild(el('span', {class: 'ent-type'}, e.type));
        para.append(mark);
        pos = e.end;
        if (types.indexOf(e.type) < 0) types.push(e.type);
      });
      para.append(text.slice(pos));
      out.appendChild(para);
      var legend = el('div', {class: 'legend'});
      types.forEach(function (t) { var s = el('span', null, t); s.style.backgroundColor = colour(t); legend.appendChild(s); });
      if (!types.length) legend.textContent = 'no entities found';
      out.appendChild(legend);
    });
  }

  seqlab.register('tag', {
    placeholder: 'A sentence with people, places and organisations',
    run: run,
    style: [
      '.tagged{line-height:2.3;font-size:1.05em}',
      'mark.ent{padding:.15em .3em;border-radius:4px;color:inherit}',
      '.ent-type{font-size:.65em;font-weight:700;margin-left:.35em;vertical-align:middle;opacity:.75}',
      '.legend{display:flex;gap:.6em;flex-wrap:wrap;font-size:.8em}',
      '.legend span{padding:.1em .5em;border-radius:4px}'
    ].join('\n')
  });
})(window.seqlab);
