/* The researcher's studies: the list, and a form for a new one (the JSON API, with the login cookie). */
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  function showMessage(text) { $('message').textContent = text; $('message').hidden = false; }
  function link(url, text) {
    const a = document.createElement('a');
    a.href = url;
    a.textContent = text || url;
    return a;
  }

  async function load() {
    const resp = await fetch('/api/studies', { credentials: 'same-origin' });
    if (resp.status === 401) { location.href = '/login?next=/studies'; return; }
    const studies = await resp.json();
    $('no-studies').hidden = studies.length > 0;
    const body = $('studies').querySelector('tbody');
    body.replaceChildren(...studies.map((s) => {
      const tr = document.createElement('tr');
      tr.dataset.study = s.id;
      const title = tr.insertCell(); title.textContent = s.title;
      if (s.screen) title.append(' ', Object.assign(document.createElement('span'), { className: 'tag', textContent: 'screen recorded' }));
      const n = tr.insertCell(); n.textContent = String(s.sessions); n.className = 'num';
      tr.insertCell().appendChild(link(s.participant_url));
      tr.insertCell().appendChild(link(s.results_url, 'results'));
      return tr;
    }));
  }

  $('new-study').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const body = {
      title: $('study-title').value,
      consent: $('study-consent').value,
      tasks: $('study-tasks').value.split('\n').map((t) => t.trim()).filter(Boolean),
      feedback: $('study-feedback').checked,
      screen: $('study-screen').checked,
    };
    const resp = await fetch('/api/studies', {
      method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    const reply = await resp.json();
    if (resp.status !== 201) { showMessage(reply.error); return; }
    $('message').hidden = true;
    $('created-participant').textContent = $('created-participant').href = reply.participant_url;
    $('created-results').textContent = $('created-results').href = reply.results_url;
    $('created').hidden = false;
    $('new-study').reset();
    await load();
  });
  load().catch((e) => showMessage(e.message));
})();
