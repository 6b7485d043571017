// What the dashboard and the review page share: the element builder, the status line, and the
// API key. A server with API_KEY answers every data route with 401 until the request carries the
// key; the page then asks for it once, keeps it for this tab only, and sends it with every request.
// Every string from the server reaches the page through textContent or attribute setters, never
// through innerHTML: file names come from users.

export const $ = (sel) => document.querySelector(sel);

/** Builds an element; children are nodes or plain text (always inserted as text). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) node.append(c instanceof Node ? c : String(c));
  return node;
}

export function setStatus(text, isError = false) {
  const s = $('#status');
  s.textContent = text;
  s.classList.toggle('error', isError);
}

const KEY_STORAGE = 'refund-vision.apiKey';
const storedKey = () => sessionStorage.getItem(KEY_STORAGE) ?? '';

/** Thrown after a 401: the key form is already showing, callers only stop. */
export class KeyNeeded extends Error {}

function askForKey(message) {
  const form = $('#key-form');
  $('#key-message').textContent = message;
  form.hidden = false;
  $('#api-key').value = '';
  $('#api-key').focus();
  setStatus('Waiting for the API key.', true);
}

/** Wires the key form and the "Forget key" button; `reload` runs once a key was entered. */
export function initApiKey(reload) {
  $('#key-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const key = $('#api-key').value.trim();
    // Header values must be visible ASCII; fetch would throw on anything else.
    if (!/^[\x21-\x7e]+$/.test(key)) return askForKey('An API key is one word of visible ASCII characters.');
    sessionStorage.setItem(KEY_STORAGE, key);
    $('#key-form').hidden = true;
    $('#forget-key').hidden = false;
    reload();
  });
  $('#forget-key').addEventListener('click', () => {
    sessionStorage.removeItem(KEY_STORAGE);
    location.reload();
  });
  $('#forget-key').hidden = !storedKey();
}

/** fetch with the stored key; a 401 drops a rejected key and shows the key form. */
export async function request(path, init = {}) {
  const key = storedKey();
  const headers = { accept: 'application/json', ...init.headers };
  if (key) headers.authorization = `Bearer ${key}`;
  const res = await fetch(path, { ...init, headers });
  if (res.status === 401) {
    sessionStorage.removeItem(KEY_STORAGE);
    $('#forget-key').hidden = true;
    askForKey(key ? 'That key was not accepted. Enter the API key of this server.' : 'This server needs its API key.');
    throw new KeyNeeded('API key needed');
  }
  return res;
}

export async function api(path, init) {
  const res = await request(path, init);
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(body?.error?.message ?? `${res.status} ${res.statusText}`);
  return body;
}

/** POST a JSON body. */
export const post = (path, body) =>
  api(path, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body) });

/** A plain link cannot send the key: fetch the CSV and hand it to the browser as a download. */
export async function downloadCsv(e) {
  e.preventDefault();
  const link = e.currentTarget;
  try {
    const res = await request(link.getAttribute('href'), { headers: { accept: 'text/csv' } });
    if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
    const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? 'refund-vision.csv';
    const url = URL.createObjectURL(await res.blob());
    const a = el('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (err) {
    if (!(err instanceof KeyNeeded)) setStatus(`Could not download the CSV: ${err.message}`, true);
  }
}
