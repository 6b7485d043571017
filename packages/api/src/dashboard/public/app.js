// The refund-vision dashboard. One /v1/history call draws every chart; a run's detail and its
// feedback go through /v1/runs/:id and /v1/predictions/:id/feedback. Every call goes through
// request(), which adds the API key when the server wants one.
// Every string from the server (file names, run keys, messages) reaches the page through
// textContent or attribute setters, never through innerHTML: file names come from users.

/* global Chart */
import { $, api, downloadCsv, el, initApiKey, KeyNeeded, setStatus } from './page.js';

const CLASS_COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
const HEALTH_COLORS = { OK: '#2e9d5b', WARN: '#e0a100', ALERT: '#d03030' };
const HEALTH_LEVEL = { OK: 1, WARN: 2, ALERT: 3 };

const state = { days: 90, history: null, charts: {}, run: null, classNames: [], baseline: null };

const pct = (x, d = 1) => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(d)}%`);
const ms = (x) => (x === null || x === undefined ? '—' : x < 10 ? x.toFixed(2) : x.toFixed(0));
const dateTime = (iso) => (iso ? `${iso.slice(0, 10)} ${iso.slice(11, 16)}` : '—');
const badge = (h) => el('span', { class: `badge ${h ?? 'none'}` }, h ?? 'open');

// ---- charts ------------------------------------------------------------------------------------

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Tick steps in whole hours or days (UTC), so no two ticks read the same date. */
const TICK_STEPS = [HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY, 91 * DAY, 182 * DAY];
function timeAxis(h) {
  const pad = h.t.length > 1 ? 0 : DAY;
  const min = (h.t[0] ?? Date.now()) - pad;
  const max = (h.t.at(-1) ?? Date.now()) + pad;
  // at most ~6 labels: a day's span is labelled with hours, a longer one with dates
  const step = TICK_STEPS.find((s) => (max - min) / s <= 6) ?? TICK_STEPS.at(-1);
  const label = (v) => {
    const iso = new Date(v).toISOString();
    return step < DAY ? `${iso.slice(5, 10)} ${iso.slice(11, 16)}` : iso.slice(5, 10);
  };
  return {
    type: 'linear',
    min,
    max,
    ticks: { callback: label, maxRotation: 0 },
    // Chart.js counts steps from the axis minimum (a run's time); ticks on whole UTC hours/days read better
    afterBuildTicks: (axis) => {
      axis.ticks = [];
      for (let v = Math.ceil(min / step) * step; v <= max; v += step) axis.ticks.push({ value: v });
    },
    grid: { display: false },
  };
}

function baseOptions(h, y, extra = {}) {
  return {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    parsing: false,
    normalized: true,
    spanGaps: true,
    interaction: { mode: 'nearest', axis: 'x', intersect: false },
    scales: { x: timeAxis(h), y },
    plugins: {
      legend: { labels: { boxWidth: 10, font: { size: 11 } } },
      tooltip: {
        callbacks: {
          title: (items) => (items.length ? `${h.label[items[0].dataIndex]} · ${dateTime(new Date(items[0].parsed.x).toISOString())}` : ''),
        },
      },
    },
    onClick: (_e, items) => {
      const id = items.length ? h.runId[items[0].index] : null;
      if (id) openRun(id);
    },
    ...extra,
  };
}

const points = (h, ys) => h.t.map((x, i) => ({ x, y: ys[i] ?? null }));

function drawChart(key, config, h) {
  state.charts[key]?.destroy();
  const canvas = $(`#chart-${key}`);
  state.charts[key] = new Chart(canvas, config);
  const fig = canvas.closest('figure');
  fig.dataset.points = String(h.points);
  fig.dataset.datasets = String(config.data.datasets.length);
  fig.dataset.rendered = 'true';
}

function drawCharts(h) {
  const dense = h.points > 60;
  const line = (label, ys, color, extra = {}) => ({
    label,
    data: points(h, ys),
    borderColor: color,
    backgroundColor: color,
    borderWidth: 1.5,
    pointRadius: dense ? 0 : 2.5,
    pointHoverRadius: 4,
    tension: 0,
    ...extra,
  });
  const unit = { min: 0, max: 1, ticks: { callback: (v) => `${Math.round(v * 100)}%` } };

  drawChart(
    'confidence',
    {
      type: 'line',
      data: {
        datasets: [
          line('All classes', h.meanConfidence, '#111', { borderWidth: 3 }),
          ...h.classNames.map((name, c) => line(name, h.classConfidence[c], CLASS_COLORS[c], { borderWidth: 1 })),
        ],
      },
      options: baseOptions(h, { ...unit, min: undefined, suggestedMin: 0.5 }),
    },
    h,
  );

  drawChart(
    'accuracy',
    {
      type: 'line',
      data: {
        datasets: [
          line('From labels', h.accuracy, '#3558c8', { borderWidth: 2.5 }),
          line('From feedback', h.feedbackAccuracy, '#c8358a', { borderWidth: 2.5, borderDash: [6, 3] }),
        ],
      },
      options: baseOptions(h, unit, {
        plugins: {
          legend: { labels: { boxWidth: 10, font: { size: 11 } } },
          tooltip: {
            callbacks: {
              label: (item) =>
                `${item.dataset.label}: ${pct(item.parsed.y)} of ${item.datasetIndex === 0 ? h.labelled[item.dataIndex] : h.feedbackCount[item.dataIndex]}`,
            },
          },
        },
      }),
    },
    h,
  );

  drawChart(
    'images',
    {
      type: 'bar',
      data: {
        datasets: [{ label: 'Images', data: points(h, h.images), backgroundColor: '#5b8bd0', barThickness: 'flex', maxBarThickness: 14 }],
      },
      options: baseOptions(h, { beginAtZero: true }, { plugins: { legend: { display: false } } }),
    },
    h,
  );

  drawChart(
    'time',
    {
      type: 'line',
      data: { datasets: [line('ms per prediction', h.msPerPrediction, '#6b4fbb')] },
      options: baseOptions(h, { beginAtZero: true, title: { display: true, text: 'ms' } }, { plugins: { legend: { display: false } } }),
    },
    h,
  );

  drawChart(
    'health',
    {
      type: 'bar',
      data: {
        datasets: [
          {
            label: 'Health',
            data: points(
              h,
              h.health.map((s) => (s ? HEALTH_LEVEL[s] : 0.3)),
            ),
            backgroundColor: h.health.map((s) => (s ? HEALTH_COLORS[s] : '#bbb')),
            barThickness: 'flex',
            maxBarThickness: 14,
          },
        ],
      },
      options: baseOptions(
        h,
        { min: 0, max: 3, ticks: { stepSize: 1, callback: (v) => ['', 'OK', 'WARN', 'ALERT'][v] ?? '' } },
        {
          plugins: {
            legend: { display: false },
            tooltip: { callbacks: { label: (item) => `health: ${h.health[item.dataIndex] ?? 'not checked (open run)'}` } },
          },
        },
      ),
    },
    h,
  );
}

// ---- summary cards and the runs table -----------------------------------------------------------

function card(title, value, note, cls) {
  return el(
    'div',
    { class: `card ${cls ?? ''}` },
    el('div', { class: 'card-title' }, title),
    el('div', { class: 'card-value' }, value),
    el('div', { class: 'card-note' }, note),
  );
}

function drawSummary(s) {
  const box = $('#summary');
  box.replaceChildren(
    card('Runs', String(s.runs), `${s.openRuns} still open`),
    card('Images', s.images.toLocaleString('en'), s.failures ? `${s.failures} could not be read` : 'none failed'),
    card('Mean confidence', pct(s.meanConfidence), 'how sure the model was'),
    card('Accuracy (labels)', pct(s.accuracy.value), `${s.accuracy.labelled.toLocaleString('en')} labelled images`, 'measured'),
    card('Accuracy (feedback)', pct(s.feedbackAccuracy.value), `${s.feedbackAccuracy.count} predictions reviewed`, 'measured'),
    card(
      'Health',
      `${s.health.ALERT} ALERT`,
      `${s.health.WARN} WARN · ${s.health.OK} OK${s.health.unchecked ? ` · ${s.health.unchecked} open` : ''}`,
      s.health.ALERT ? 'alert' : s.health.WARN ? 'warn' : 'ok',
    ),
    card('Time per prediction', `${ms(s.msPerPrediction.p50)} ms`, `p95 ${ms(s.msPerPrediction.p95)} ms`),
  );
}

function drawRunsTable(h) {
  const rows = h.recent.map((r) =>
    el(
      'tr',
      {
        class: 'clickable',
        tabindex: 0,
        dataset: { runId: String(r.id) },
        onclick: () => openRun(r.id),
        onkeydown: (e) => e.key === 'Enter' && openRun(r.id),
      },
      el('td', {}, dateTime(r.startedAt)),
      el('td', { class: 'key' }, r.runKey),
      el('td', {}, r.source),
      el('td', { class: 'num' }, r.images.toLocaleString('en')),
      el('td', { class: 'num' }, pct(r.meanConfidence)),
      el('td', { class: 'num' }, r.accuracy === null ? '—' : `${pct(r.accuracy)} (${r.labelled})`),
      el('td', { class: 'num' }, r.feedbackAccuracy === null ? '—' : `${pct(r.feedbackAccuracy)} (${r.feedbackCount})`),
      el('td', { class: 'num' }, ms(r.msPerPrediction)),
      el('td', {}, badge(r.health)),
    ),
  );
  $('#runs-table tbody').replaceChildren(
    ...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 9, class: 'empty' }, 'No runs in this period.'))]),
  );
}

// ---- one run -----------------------------------------------------------------------------------

function fact(label, value) {
  return el('div', { class: 'fact' }, el('span', {}, label), el('b', {}, value));
}

function drawRunHeader(run) {
  $('#detail-title').textContent = `Run ${run.runKey}`;
  $('#detail-facts').replaceChildren(
    fact('Started', dateTime(run.startedAt)),
    fact('Finished', run.finishedAt ? dateTime(run.finishedAt) : 'open'),
    fact('Source', run.source),
    fact('Model', run.modelVersion),
    fact('Images', String(run.images)),
    fact('Failures', String(run.failures)),
    fact('Mean confidence', pct(run.meanConfidence)),
    fact('Accuracy (estimated)', pct(run.estimatedAccuracy ?? null)),
    fact('Accuracy (labels)', run.accuracy === null ? '—' : `${pct(run.accuracy)} of ${run.labelled}`),
    el(
      'div',
      { class: 'fact', id: 'fact-feedback' },
      el('span', {}, 'Accuracy (feedback)'),
      el('b', {}, pct(run.feedbackAccuracy ?? null)),
    ),
    fact('ms / prediction', ms(run.msPerPrediction)),
    el('div', { class: 'fact' }, el('span', {}, 'Health'), badge(run.health ?? null)),
    el('div', { class: 'fact', id: 'fact-reviews' }, el('span', {}, 'Needs a person'), el('b', {}, reviewsText(run.reviews))),
  );
  const checks = run.checks ?? [];
  $('#detail-checks').replaceChildren(
    ...checks.map((c) => el('li', { class: c.status }, badge(c.status), ' ', el('b', {}, c.name), ': ', c.message)),
  );
  const total = run.images || 1;
  $('#detail-classes tbody').replaceChildren(
    ...run.perClass.map((c) =>
      el(
        'tr',
        {},
        el('td', {}, c.className),
        el('td', { class: 'num' }, String(c.count)),
        el('td', { class: 'num' }, pct(c.count / total)),
        el('td', { class: 'num' }, pct(c.meanConfidence)),
        el('td', { class: 'num' }, pct(state.baseline?.perClassMeanConfidence?.[c.classIndex] ?? null)),
      ),
    ),
  );
}

const REVIEW_REASONS = ['mismatch', 'out-of-scope', 'low-confidence'];

/** "3 mismatch · 1 out-of-scope", or "none" when every answer can be trusted. */
function reviewsText(reviews) {
  const parts = REVIEW_REASONS.filter((r) => reviews?.[r]).map((r) => `${reviews[r]} ${r}`);
  return parts.length ? parts.join(' · ') : reviews ? 'none' : '—';
}

function feedbackText(p) {
  if (p.feedbackNone) return '✗ none of the classes';
  if (p.feedbackClass === null || p.feedbackClass === undefined) return '';
  return p.feedbackClass === p.classIndex ? `✓ confirmed ${p.className}` : `✗ actually ${state.classNames[p.feedbackClass]}`;
}

function predictionRow(p) {
  const shown = el('span', { class: 'fb-state' }, feedbackText(p));
  const select = el(
    'select',
    { 'aria-label': `Correct class for ${p.id}` },
    el('option', { value: '' }, 'correct class…'),
    ...state.classNames.map((name, i) => el('option', { value: String(i) }, name)),
  );
  if (p.feedbackClass !== null && p.feedbackClass !== undefined) select.value = String(p.feedbackClass);
  const send = async (body, button) => {
    button.disabled = true;
    try {
      const r = await api(`/v1/predictions/${p.predictionId}/feedback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
      });
      p.feedbackClass = r.correctClass;
      p.feedbackNone = false;
      shown.textContent = feedbackText(p);
      row.classList.toggle('wrong', !r.correct);
      row.classList.toggle('right', r.correct);
      $('#fact-feedback b').textContent = `${pct(r.runFeedbackAccuracy)} of ${r.runFeedbackCount}`;
      setStatus(`Feedback saved for ${p.id}.`);
    } catch (e) {
      if (!(e instanceof KeyNeeded)) setStatus(`Feedback not saved: ${e.message}`, true);
    } finally {
      button.disabled = false;
    }
  };
  const save = el('button', { type: 'button', class: 'save' }, 'Save');
  save.addEventListener('click', () => {
    if (select.value === '') return setStatus('Choose the correct class first.', true);
    send({ correctClass: Number(select.value) }, save);
  });
  const right = el('button', { type: 'button', class: 'right-btn', title: 'The prediction is right' }, '✓ right');
  right.addEventListener('click', () => send({ correct: true }, right));
  const label = p.label === null ? '—' : state.classNames[p.label];
  const row = el(
    'tr',
    {
      dataset: { predictionId: String(p.predictionId) },
      class: p.feedbackNone
        ? 'wrong'
        : p.feedbackClass === null || p.feedbackClass === undefined
          ? ''
          : p.feedbackClass === p.classIndex
            ? 'right'
            : 'wrong',
    },
    el('td', { class: 'file', title: p.group ? `group ${p.group}` : undefined }, p.id),
    el('td', {}, p.className),
    el('td', { class: 'num' }, pct(p.confidence)),
    el('td', { class: 'top3' }, p.top3.map((t) => `${t.className} ${pct(t.confidence, 0)}`).join(' · ')),
    el('td', { class: p.label !== null && p.label !== p.classIndex ? 'mismatch' : '' }, label),
    el('td', { class: p.review ? `review ${p.review}` : '' }, p.review ?? ''),
    el('td', { class: 'feedback' }, right, select, save, shown),
  );
  return row;
}

let nextCursor = null;
async function openRun(id, append = false) {
  try {
    const q = new URLSearchParams({ limit: '200' });
    if (append && nextCursor) q.set('cursor', nextCursor);
    const detail = await api(`/v1/runs/${encodeURIComponent(id)}?${q}`);
    state.run = detail.run;
    const section = $('#detail');
    section.hidden = false;
    section.dataset.runId = String(detail.run.id);
    if (!append) drawRunHeader(detail.run);
    const rows = detail.predictions.map(predictionRow);
    if (append) $('#predictions-table tbody').append(...rows);
    else $('#predictions-table tbody').replaceChildren(...rows);
    nextCursor = detail.nextCursor;
    $('#more').hidden = !nextCursor;
    section.dataset.predictions = String($('#predictions-table tbody').children.length);
    if (!append) section.scrollIntoView({ behavior: 'instant', block: 'start' });
  } catch (e) {
    if (!(e instanceof KeyNeeded)) setStatus(`Could not open run ${id}: ${e.message}`, true);
  }
}

// ---- models: the served version, the challenger's shadow comparison, the registry's moves ---------

const share = (x) => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(1)} %`);

function drawModels(m) {
  $('#models-facts').replaceChildren(
    fact('Serving', `${m.serving.version} (${m.serving.engine})`),
    fact('Challenger', m.challenger ? m.challenger.version : 'none'),
    fact('Versions in the registry', String(m.versions.length)),
    fact('Shadow images skipped (busy)', String(m.shadow.skippedImages)),
  );
  const rows = m.shadow.comparisons.map((c) =>
    el(
      'tr',
      {},
      el('td', {}, c.challengerVersion),
      el('td', { class: 'num' }, String(c.compared)),
      el('td', { class: 'num' }, share(c.agreement)),
      el('td', { class: 'num' }, String(c.withTruth)),
      el('td', { class: 'num' }, share(c.championAccuracy)),
      el('td', { class: 'num' }, share(c.challengerAccuracy)),
      el('td', {}, dateTime(c.lastAt)),
    ),
  );
  $('#shadow-table tbody').replaceChildren(
    ...(rows.length ? rows : [el('tr', {}, el('td', { colspan: '7' }, 'No shadow answers yet: pnpm model challenge VERSION'))]),
  );
  $('#moves-table tbody').replaceChildren(
    ...m.history.map((h) =>
      el(
        'tr',
        {},
        el('td', {}, dateTime(h.at)),
        el('td', {}, h.alias),
        el('td', {}, h.from ?? '—'),
        el('td', {}, h.to ?? '—'),
        el('td', {}, h.forced ? `${h.kind} (forced)` : h.kind),
        el('td', {}, h.by),
        el('td', {}, h.reason),
        el('td', {}, h.gatePassed === null ? '—' : h.gatePassed ? 'passed' : 'failed'),
      ),
    ),
  );
}

// ---- loading -----------------------------------------------------------------------------------

async function load() {
  setStatus('Loading…');
  const days = state.days;
  const from = new Date(Date.now() - days * 86_400_000).toISOString();
  $('#csv').setAttribute('href', `/v1/runs.csv?from=${encodeURIComponent(from)}`);
  try {
    const [history, summary] = await Promise.all([api(`/v1/history?days=${days}`), api(`/v1/summary?from=${encodeURIComponent(from)}`)]);
    state.history = history;
    state.classNames = history.classNames;
    state.baseline = history.baseline;
    drawSummary(summary);
    drawCharts(history);
    drawRunsTable(history);
    drawModels(await api('/v1/models'));
    const per = history.bucket === 'day' ? ' (one point per day)' : '';
    setStatus(`${history.runs} runs in the last ${days} days${per}. Updated ${new Date().toLocaleTimeString('en-GB')}.`);
    document.body.dataset.loaded = 'true';
  } catch (e) {
    if (!(e instanceof KeyNeeded)) setStatus(`Could not load the history: ${e.message}`, true);
  }
}

$('#days').addEventListener('change', (e) => {
  state.days = Number(e.target.value);
  load();
});
$('#refresh').addEventListener('click', () => load());
$('#more').addEventListener('click', () => state.run && openRun(state.run.id, true));
$('#csv').addEventListener('click', downloadCsv);
initApiKey(load);
state.days = Number($('#days').value);
load();
