// The review page: one queue across runs. The page claims the next item (a lease: no other
// reviewer gets it meanwhile), shows the photo, what the model saw and what its answer rested on,
// and records the decision. Keyboard first: 1–0 pick a class, n none of these, Enter the model is
// right, s skip, z undo the last decision; every key has a button too.
import { $, api, downloadCsv, el, initApiKey, KeyNeeded, post, setStatus } from './page.js';

const CLASS_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
const NAME_STORAGE = 'refund-vision.reviewer';
const KEYS = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '0'];

const state = { reviewer: localStorage.getItem(NAME_STORAGE) ?? '', item: null, shownAt: 0, skipped: [], undo: [], busy: false };

const pct = (x) => `${(x * 100).toFixed(1)}%`;
const dateTime = (iso) => (iso ? `${iso.slice(0, 10)} ${iso.slice(11, 19)}` : '—');
const decisionText = (d) =>
  d.decision === 'undo' ? 'undo' : d.decision === 'none' ? 'none of these classes' : `${CLASS_NAMES[d.classIndex]}`;

// ---- drawing ------------------------------------------------------------------------------------

function bytesOf(b64) {
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** The 28×28 as the model saw it, enlarged; with `heat`, the saliency in red over a dimmed copy. */
function draw(canvas, pixels, heat) {
  const small = document.createElement('canvas');
  small.width = 28;
  small.height = 28;
  const ctx = small.getContext('2d');
  const img = ctx.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = pixels[i];
    const h = heat ? heat[i] : 0;
    const base = heat ? v * 0.45 : v;
    img.data[i * 4] = heat ? Math.min(255, base + h * 255) : v;
    img.data[i * 4 + 1] = heat ? base * (1 - h) : v;
    img.data[i * 4 + 2] = heat ? base * (1 - h) : v;
    img.data[i * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  const big = canvas.getContext('2d');
  big.imageSmoothingEnabled = false;
  big.clearRect(0, 0, canvas.width, canvas.height);
  big.drawImage(small, 0, 0, canvas.width, canvas.height);
}

function showItem(item) {
  state.item = item;
  state.shownAt = performance.now();
  $('#empty').hidden = !!item;
  $('#item').hidden = !item;
  if (!item) {
    document.body.dataset.itemId = '';
    return;
  }
  document.body.dataset.itemId = String(item.id);
  const reason = $('#item-reason');
  reason.textContent = item.reason;
  reason.className = `reason ${item.reason}`;
  $('#item-file').textContent = item.imageId;
  $('#item-run').textContent = `run ${item.runKey}${item.group ? ` · group ${item.group}` : ''}`;
  $('#item-lease').textContent = item.claimExpiresAt ? `yours until ${item.claimExpiresAt.slice(11, 19)} UTC` : '';
  $('#item-answer').textContent = `${item.className} ${pct(item.confidence)}`;
  $('#item-expected').textContent = item.expected === null ? '— (no order class)' : CLASS_NAMES[item.expected];
  $('#item-top3').replaceChildren(...item.top3.map((t) => el('li', {}, `${t.className} ${pct(t.confidence)}`)));
  const thumb = $('#item-thumb');
  if (item.thumbnail) {
    thumb.src = `data:${item.thumbnail.type};base64,${item.thumbnail.data}`;
    thumb.hidden = false;
    $('#item-no-thumb').hidden = true;
  } else {
    thumb.removeAttribute('src');
    thumb.hidden = true;
    $('#item-no-thumb').hidden = false;
  }
  const pixels = bytesOf(item.pixels);
  draw($('#item-seen'), pixels);
  draw($('#item-saliency'), pixels, null);
  api(`/v1/reviews/${item.id}/saliency`)
    .then((s) => {
      if (state.item?.id === item.id) {
        draw($('#item-saliency'), pixels, s.values);
        $('#item-saliency').dataset.ready = 'true';
      }
    })
    .catch((e) => e instanceof KeyNeeded || setStatus(`No saliency for this item: ${e.message}`, true));
  for (const b of document.querySelectorAll('#class-buttons button'))
    b.classList.toggle('model', Number(b.dataset.cls) === item.classIndex);
}

async function drawQueue() {
  const q = await api('/v1/reviews?limit=20');
  $('#queue-count').textContent = `${q.total} open`;
  $('#queue-table tbody').replaceChildren(
    ...q.items.map((i, k) =>
      el(
        'tr',
        { dataset: { itemId: String(i.id) } },
        el('td', { class: 'num' }, String(k + 1)),
        el('td', {}, el('span', { class: `reason ${i.reason}` }, i.reason)),
        el('td', { class: 'file' }, i.imageId),
        el('td', {}, i.className),
        el('td', { class: 'num' }, pct(i.confidence)),
        el('td', {}, i.expected === null ? '—' : CLASS_NAMES[i.expected]),
        el('td', {}, i.claimedBy ?? ''),
      ),
    ),
  );
}

async function drawAudit() {
  const { decisions } = await api('/v1/reviews/decisions?limit=50');
  $('#audit-table tbody').replaceChildren(
    ...decisions.map((d) =>
      el(
        'tr',
        { dataset: { decisionId: String(d.id), decision: d.decision } },
        el('td', {}, dateTime(d.decidedAt)),
        el('td', {}, d.decidedBy),
        el('td', { class: 'file' }, d.imageId),
        el('td', {}, decisionText(d)),
        el('td', { class: 'num' }, d.secondsSpent === null ? '—' : d.secondsSpent.toFixed(1)),
        el('td', { class: 'key' }, d.modelVersion),
        el('td', { class: 'num' }, d.previousId === null ? '—' : `#${d.previousId}`),
      ),
    ),
  );
}

// ---- actions ------------------------------------------------------------------------------------

async function next() {
  const { item } = await post('/v1/reviews/claim', { reviewer: state.reviewer, exclude: state.skipped });
  showItem(item);
  await Promise.all([drawQueue(), drawAudit()]);
  setStatus(item ? `Reviewing as ${state.reviewer}.` : 'The queue is empty.');
}

/** Runs one action at a time: a held-down key must not decide two items. */
async function act(fn) {
  if (state.busy) return;
  state.busy = true;
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof KeyNeeded)) setStatus(e.message, true);
  } finally {
    state.busy = false;
    document.body.dataset.busy = 'false';
  }
  document.body.dataset.busy = 'false';
}

const decide = (body) =>
  act(async () => {
    const item = state.item;
    if (!item) return;
    document.body.dataset.busy = 'true';
    const secondsSpent = Math.round((performance.now() - state.shownAt) / 100) / 10;
    const r = await post(`/v1/reviews/${item.id}/decision`, { ...body, reviewer: state.reviewer, secondsSpent });
    state.undo.push(item.id);
    setStatus(`${item.imageId}: ${decisionText(r.decision)}.`);
    await next();
  });

const skip = () =>
  act(async () => {
    const item = state.item;
    if (!item) return;
    state.skipped.push(item.id);
    await post(`/v1/reviews/${item.id}/release`, { reviewer: state.reviewer });
    await next();
  });

const undo = () =>
  act(async () => {
    const id = state.undo.pop();
    if (id === undefined) return setStatus('Nothing to undo.', true);
    if (state.item) await post(`/v1/reviews/${state.item.id}/release`, { reviewer: state.reviewer });
    await post(`/v1/reviews/${id}/decision`, { decision: 'undo', reviewer: state.reviewer });
    const { item } = await post(`/v1/reviews/${id}/claim`, { reviewer: state.reviewer });
    showItem(item);
    await Promise.all([drawQueue(), drawAudit()]);
    setStatus(`Undone: ${item.imageId} is back for a decision.`);
  });

function onKey(e) {
  if (e.target instanceof HTMLInputElement || e.ctrlKey || e.metaKey || e.altKey) return;
  if (!$('#name-form').hidden || !$('#key-form').hidden) return;
  const k = KEYS.indexOf(e.key);
  if (k >= 0) decide({ decision: 'class', classIndex: k });
  else if (e.key === 'n') decide({ decision: 'none' });
  else if (e.key === 'Enter') decide({ decision: 'confirm' });
  else if (e.key === 's') skip();
  else if (e.key === 'z') undo();
  else return;
  e.preventDefault();
}

// ---- start ------------------------------------------------------------------------------------

function askName() {
  $('#name-form').hidden = false;
  $('#reviewer-name').value = state.reviewer;
  $('#reviewer-name').focus();
  setStatus('Who is reviewing?');
  // reading needs no name: show what waits (and who decided what) while the name is asked for
  Promise.all([drawQueue(), drawAudit()]).catch((e) => e instanceof KeyNeeded || setStatus(e.message, true));
}

$('#name-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const name = $('#reviewer-name').value.trim();
  if (!name) return askName();
  state.reviewer = name;
  localStorage.setItem(NAME_STORAGE, name);
  $('#name-form').hidden = true;
  start();
});
$('#change-reviewer').addEventListener('click', askName);

function start() {
  $('#reviewer-label').textContent = state.reviewer ? `reviewer: ${state.reviewer}` : '';
  if (!state.reviewer) return askName();
  act(next).then(() => (document.body.dataset.loaded = 'true'));
}

$('#class-buttons').replaceChildren(
  ...CLASS_NAMES.map((name, i) =>
    el(
      'button',
      { type: 'button', dataset: { cls: String(i) }, onclick: () => decide({ decision: 'class', classIndex: i }) },
      el('kbd', {}, KEYS[i]),
      ` ${name}`,
    ),
  ),
);
$('#btn-none').addEventListener('click', () => decide({ decision: 'none' }));
$('#btn-confirm').addEventListener('click', () => decide({ decision: 'confirm' }));
$('#btn-skip').addEventListener('click', skip);
$('#btn-undo').addEventListener('click', undo);
$('#csv').addEventListener('click', downloadCsv);
document.addEventListener('keydown', onKey);
initApiKey(start);
start();
