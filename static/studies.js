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
    const when = (iso) => (iso ? iso.replace('T', ' ').slice(0, 16) : '–');
    body.replaceChildren(...studies.map((s) => {
      const tr = document.createElement('tr');
      tr.dataset.study = s.id;
      const title = tr.insertCell(); title.title = s.title; title.className = 'title';
      // the title is cut with an ellipsis on its own, so that a long title never hides the tag after it
      title.append(Object.assign(document.createElement('span'), { className: 'title-text', textContent: s.title }));
      if (s.screen) title.append(' ', Object.assign(document.createElement('span'), { className: 'tag', textContent: 'screen recorded' }));
      tr.insertCell().textContent = when(s.created);
      tr.insertCell().textContent = s.closed ? 'closed' : (s.max_sessions ? `open (cap ${s.max_sessions})` : 'open');
      const n = tr.insertCell();
      const st = s.statuses;
      n.textContent = `${st.completed || 0} / ${st.incomplete || 0} / ${st.withdrawn || 0}${st.live ? ` (${st.live} running)` : ''}`;
      n.className = 'num';
      n.dataset.sessions = String(s.sessions);
      tr.insertCell().textContent = when(s.last_session);
      tr.insertCell().appendChild(link(s.results_url, 'results'));
      tr.insertCell().appendChild(link(s.participant_url));
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
      check_required: $('study-check-required').checked,
    };
    for (const [id, key] of [['study-max-sessions', 'max_sessions'], ['study-retention-days', 'retention_days']]) {
      if ($(id).value.trim() !== '') body[key] = Number($(id).value);
    }
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
