(function(){
  // The sample viewer: one page for every sample, reading the run's data chunks
  // (data/<dir>/cNNNNN.js, script tags: works from file://). Model-written text only
  // ever goes in as textContent; the code's highlighting is the build's (Pygments, which
  // escapes what it is given).
  var RUNS = window.VAD_RUNS || {}, chunks = {}, waiting = {};
  window.vadChunk = function(run, k, records){
    var key = run + '\u0000' + k;
    chunks[key] = records;
    (waiting[key] || []).forEach(function(f){ f(); });
    delete waiting[key];
  };
  function pad(k){ var s = String(k); while (s.length < 5) s = '0' + s; return s; }
  function need(run, line, done){
    var info = Object.prototype.hasOwnProperty.call(RUNS, run) ? RUNS[run] : null;
    if (!info || !(line >= 1)) return done(null);
    var k = Math.floor((line - 1) / info.chunk), key = run + '\u0000' + k;
    var got = function(){ var c = chunks[key]; done(c && Object.prototype.hasOwnProperty.call(c, line) ? c[line] : null); };
    if (key in chunks) return got();
    if (!waiting[key]) {
      waiting[key] = [];
      var s = document.createElement('script');
      s.src = 'data/' + info.dir + '/c' + pad(k) + '.js';
      s.onerror = function(){ chunks[key] = {}; (waiting[key] || []).forEach(function(f){ f(); }); delete waiting[key]; };
      document.head.appendChild(s);
    }
    waiting[key].push(got);
  }
  function el(tag, text, cls){
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function pairs(dl, rows){
    dl.textContent = '';
    rows.forEach(function(r){
      if (r[1] === undefined || r[1] === null || r[1] === '') return;
      dl.appendChild(el('dt', r[0]));
      dl.appendChild(el('dd', typeof r[1] === 'object' ? JSON.stringify(r[1]) : r[1]));
    });
  }
  function params(){
    var out = {};
    location.hash.replace(/^#/, '').split('&').forEach(function(part){
      var i = part.indexOf('=');
      if (i > 0) out[decodeURIComponent(part.slice(0, i))] = decodeURIComponent(part.slice(i + 1));
    });
    return out;
  }
  function showScores(box, s){
    box.textContent = '';
    if (s.verdict) {
      var v = s.verdict, p = el('p');
      p.appendChild(el('strong', v.verified ? '✓ verified' : '✗ not verified', v.verified ? 'ok' : 'bad'));
      if (v.reason) p.appendChild(el('span', ' — ' + v.reason));
      box.appendChild(p);
      var ul = el('ul');
      Object.keys(v.checks || {}).forEach(function(a){
        ul.appendChild(el('li', a + ': ' + (v.checks[a] ? 'right' : 'wrong'), v.checks[a] ? 'ok' : 'bad'));
      });
      box.appendChild(ul);
    }
    (Array.isArray(s.judgements) ? s.judgements : []).forEach(function(j){
      var p = el('p');
      p.appendChild(el('strong', j.judge + ' · ' + j.kind + ': '));
      p.appendChild(el('span', j.answer));
      if (j.reason) p.appendChild(el('span', ' — ' + j.reason));
      box.appendChild(p);
    });
    Object.keys(s.other || {}).forEach(function(name){
      box.appendChild(el('p', name + ': ' + JSON.stringify(s.other[name])));
    });
    if (!box.firstChild) box.appendChild(el('p', 'no score of this sample', 'note'));
  }
  function showPrompt(box, prompt){
    box.textContent = '';
    if (!prompt || typeof prompt !== 'object') { box.appendChild(el('p', 'not recorded (a run made before vad recorded prompts)', 'note')); return; }
    if (Array.isArray(prompt.messages)) {
      prompt.messages.forEach(function(m){
        m = m && typeof m === 'object' ? m : {content: m};
        box.appendChild(el('h3', String(m.role)));
        box.appendChild(el('pre', typeof m.content === 'string' ? m.content : JSON.stringify(m.content)));
      });
    } else {
      box.appendChild(el('pre', typeof prompt.prompt === 'string' ? prompt.prompt : JSON.stringify(prompt)));
    }
    if (Array.isArray(prompt.images)) box.appendChild(el('p', 'images (sha256): ' + prompt.images.join(', '), 'note'));
  }
  function image(img, none, s){
    if (s.src) { img.src = s.src; img.alt = s.caption || ''; img.hidden = false; none.hidden = true; }
    else { img.hidden = true; none.hidden = false; none.textContent = 'no image: ' + (s.status || ''); }
  }
  function showChain(run, s){
    var box = document.getElementById('chain');
    box.textContent = '';
    document.getElementById('chain-box').hidden = !(s.chain && s.chain.length > 1);
    (Array.isArray(s.chain) ? s.chain : []).forEach(function(line){
      var col = el('div');
      box.appendChild(col);
      need(run, line, function(r){
        if (!r) { col.appendChild(el('p', 'line ' + line + ' is not in this site', 'warn')); return; }
        var a = el('a', 'round ' + r.round + (line === s.line ? ' (this sample)' : ''));
        a.href = '#run=' + encodeURIComponent(run) + '&line=' + line;
        var h = el('h3'); h.appendChild(a); col.appendChild(h);
        var img = el('img'), none = el('p', null, 'note');
        img.width = 160; img.height = 160; image(img, none, r);
        col.appendChild(img); col.appendChild(none);
        col.appendChild(el('p', 'status: ' + r.status + (r.reason ? ' — ' + r.reason : '')));
        if (r.feedback) { col.appendChild(el('strong', 'feedback sent:')); col.appendChild(el('pre', r.feedback)); }
        col.appendChild(el('pre', r.code || '(no code)'));
      });
    });
  }
  function show(){
    var p = params(), run = p.run, line = parseInt(p.line, 10);
    need(run, line, function(s){
      var missing = document.getElementById('missing'), box = document.getElementById('sample');
      if (!s) {
        missing.hidden = false; box.hidden = true;
        missing.textContent = 'no sample ' + (run || '?') + ' line ' + (p.line || '?') + ' in this site';
        return;
      }
      missing.hidden = true; box.hidden = false;
      document.title = 'vad — ' + s.caption;
      document.getElementById('caption').textContent = s.caption;
      var m = document.getElementById('model-link');
      m.textContent = s.model; m.href = s.model_page || 'index.html';
      image(document.getElementById('image'), document.getElementById('no-image'), s);
      pairs(document.getElementById('fields'), [
        ['run', run], ['line', s.line], ['sample id', s.sample_id], ['task', s.task],
        ['concept', s.concept_id], ['level', s.level], ['caption', s.caption],
        ['model', s.model], ['language', s.language], ['sample index', s.sample_index],
        ['round', s.round], ['prompt version', s.prompt_version], ['template', s.template],
        ['temperature', s.temperature], ['max tokens', s.max_tokens], ['seed', s.seed],
        ['status', s.status], ['reason', s.reason], ['prompt tokens', s.prompt_tokens],
        ['completion tokens', s.completion_tokens], ['cost (USD)', s.cost_usd],
        ['latency (s)', s.latency_s], ['from the response store', s.cached],
        ['created at', s.created_at]]);
      showScores(document.getElementById('scores'), s);
      showPrompt(document.getElementById('prompt'), s.prompt);
      document.getElementById('reply').textContent = s.raw_reply == null ? '(no reply)' : s.raw_reply;
      var code = document.getElementById('code');
      if (s.code_html != null) code.innerHTML = s.code_html;  // Pygments' escaped output
      else code.textContent = s.code == null ? '(no code)' : s.code;
      pairs(document.getElementById('render'), [['status', s.status], ['reason', s.reason],
        ['details', s.render], ['extraction', s.extraction]]);
      showChain(run, s);
      document.getElementById('record').textContent = JSON.stringify(s.record, null, 1);
    });
  }
  window.addEventListener('hashchange', show);
  show();
})();
