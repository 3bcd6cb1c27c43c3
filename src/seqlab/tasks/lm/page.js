// The language model's part of seqlab serve's page: the prompt continued, token by token as the server streams them
// (Server-Sent Events read over fetch), each token's probability in its title.
(function (seqlab) {
  'use strict';
  var el = seqlab.el;

  function run(base, text, out) {
    var body = {prompt: text, max_tokens: seqlab.optNumber('max_tokens') || 40, stream: seqlab.optChecked('stream')};
    ['temperature', 'top_k', 'top_p', 'seed'].forEach(function (k) {
      if (seqlab.optNumber(k) !== null) body[k] = seqlab.optNumber(k);
    });
    var para = el('p', {id: 'generated', class: 'generated'});
    para.appendChild(el('span', {class: 'prompt'}, text));
    out.appendChild(para);
    if (!body.stream) {
      return seqlab.postJSON(base + 'generate', body).then(function (r) { para.appendChild(el('span', {class: 'gen'}, r.text)); });
    }
    return seqlab.call(base + 'generate', body).then(function (res) {
      if (!res.ok) return seqlab.errorText(res).then(function (m) { throw new Error(m); });
      var reader = res.body.getReader();
      var decoder = new TextDecoder();
      var buffer = '';
      var count = 0;
      function handle(block) {
        var event = 'message', data = '';
        block.split('\n').forEach(function (line) {
          if (line.indexOf('event:') === 0) event = line.slice(6).trim();
          else if (line.indexOf('data:') === 0) data += line.slice(5).trim();
        });
        var payload = data ? JSON.parse(data) : null;
        if (event === 'token') {
          var p = payload.prob;
          var shown = payload.text !== undefined ? payload.text : payload.token;  // "text": the token as it reads
          para.appendChild(el('span', {class: 'gen-tok', title: p === null || p === undefined ? '' : 'p = ' + p.toFixed(3)}, shown));
          count += 1;
          seqlab.setStatus(count + ' tokens…');
        } else if (event === 'error') {
          throw new Error(payload.error.message);
        }
      }
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) return;
          buffer += decoder.decode(chunk.value, {stream: true});
          var cut;
          while ((cut = buffer.indexOf('\n\n')) >= 0) {
            var block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            handle(block);
          }
          return pump();
        });
      }
      return pump();
    });
  }

  seqlab.register('lm', {
    placeholder: 'A prompt to continue',
    options: function (box) {
      box.append(seqlab.numberOption('max_tokens', 'max tokens', 40, 1, 1024),
                 seqlab.numberOption('temperature', 'temperature', 0.8, 0, 10, 0.1),
                 seqlab.numberOption('top_k', 'top-k', '', 1, 100000), seqlab.numberOption('top_p', 'top-p', '', 0.01, 1, 0.01),
                 seqlab.numberOption('seed', 'seed', '', 0, 2147483647), seqlab.checkOption('stream', 'stream', true));
    },
    run: run,
    style: [
      '.generated{white-space:pre-wrap;font-size:1.05em;line-height:1.6}',
      '.generated .prompt{color:var(--soft)}',
      '.gen-tok{animation:fade .35s ease-out}',
      '@keyframes fade{from{background:#ffe2a8}to{background:transparent}}'
    ].join('\n')
  });
})(window.seqlab);
