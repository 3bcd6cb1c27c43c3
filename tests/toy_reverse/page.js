// the reverse task's part of the server's page
seqlab.register('reverse', {
  placeholder: 'Words to spell backwards',
  run: function (base, text, out) {
    return seqlab.postJSON(base + 'reverse', {texts: [text]}).then(function (data) {
      out.appendChild(seqlab.el('p', {id: 'reversed'}, data.results[0].reversed));
    });
  }
});
