/* A question in a modal dialog (<dialog>: keyboard and screen reader ready, Esc cancels), for
 * what must not happen by a slip: deleting results, the class view's first use.
 *
 *   const yes = await askDialog({ id, title, text, ok: 'Delete now', cancel: 'Keep them', danger: true });
 *
 * `text` is a string or a list of nodes/strings (a link, say). The cancel button has the focus
 * first. Resolves true for the OK button, false otherwise. */
'use strict';

function askDialog({ id, title, text, ok, cancel = 'Cancel', danger = false }) {
  let dialog = document.getElementById(id);
  if (!dialog) {
    dialog = document.createElement('dialog');
    dialog.id = id;
    dialog.className = 'ask';
    dialog.setAttribute('aria-labelledby', `${id}-title`);
    dialog.setAttribute('aria-describedby', `${id}-text`);
    document.body.appendChild(dialog);
  }
  const heading = document.createElement('h2');
  heading.id = `${id}-title`;
  heading.textContent = title;
  const body = document.createElement('p');
  body.id = `${id}-text`;
  body.append(...(Array.isArray(text) ? text : [text]));
  const form = document.createElement('form');
  form.method = 'dialog';
  form.className = 'ask-buttons';
  const no = document.createElement('button');
  no.type = 'submit';
  no.value = 'cancel';
  no.className = 'secondary ask-cancel';
  no.textContent = cancel;
  no.autofocus = true;
  const yes = document.createElement('button');
  yes.type = 'submit';
  yes.value = 'ok';
  yes.className = danger ? 'danger ask-ok' : 'ask-ok';
  yes.textContent = ok;
  form.append(no, yes);
  dialog.replaceChildren(heading, body, form);
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
  });
}

window.askDialog = askDialog;
