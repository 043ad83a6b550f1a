// The dashboard: plain browser JavaScript, no build step. The server embeds the data of the first paint
// (local/dashboard/dashboard-data.ts, read through the same core functions as the API), so the page shows
// the registry at once; it then polls the same API the CLI uses every 5 s, so it never stays a stale copy.

const $ = (selector) => document.querySelector(selector);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c ?? '')));
  return node;
}

const badge = (text) => el('span', { class: `status ${text}` }, text);

function bytes(n) {
  if (n === undefined || n === null) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(1)} ${units[u]}`;
}

// A registry with tokens (MODELGATE_TOKENS) serves this page without its data and answers the API only
// to a bearer token: the operator gives one once per tab, kept in sessionStorage (gone with the tab).
const TOKEN_KEY = 'modelgate-token';

class NeedsToken extends Error {}

async function api(path) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = { accept: 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  const res = await fetch(path, { headers });
  if (res.status === 401)
    throw new NeedsToken(token ? 'the token was refused' : 'a reader token is required');
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

function askForToken(why) {
  const form = $('#token-form');
  form.hidden = false;
  $('#overall').textContent = `This registry needs a token: ${why}. Enter a reader token above.`;
}

$('#token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $('#token');
  sessionStorage.setItem(TOKEN_KEY, input.value.trim());
  input.value = '';
  $('#token-form').hidden = true;
  refresh();
});

/** The failure in plain words with the runbook step that fixes it (core/failure-explanations.ts). */
function explain(error, explanations) {
  if (!error) return '';
  const x = explanations[error.code];
  const box = el('div');
  box.append(el('div', { class: 'cause' }, `${error.code}: ${x ? x.cause : error.message}`));
  // the runtime's own words beside the plain explanation: what to search for, what to quote in a ticket
  if (x && error.message) box.append(el('div', { class: 'runtime-error' }, `Runtime said: ${error.message}`));
  if (x) box.append(el('div', { class: 'step' }, `Runbook: ${x.runbookStep}. Fix: ${x.fix}.`));
  return box;
}

function fillTable(selector, rows, emptyText) {
  const body = $(`${selector} tbody`);
  body.replaceChildren(...rows);
  if (rows.length === 0) body.append(el('tr', {}, el('td', { colspan: '8', class: 'empty' }, emptyText)));
}

/**
 * A provider's status, reasons and notes are core/health.ts `providerHealthOf`, the function behind
 * /health too; the overall line is /health's own `status`. A refused candidate is a note, never a status.
 */
function renderProviders(providers, health, explanations) {
  const rows = providers.map((p) =>
    el(
      'tr',
      { 'data-provider': p.name },
      el('td', {}, p.name),
      el('td', {}, badge(p.status)),
      el('td', {}, p.healthScore.toFixed(2)),
      el('td', {}, p.currentVersion ?? 'none'),
      el('td', {}, p.model_loaded ? 'yes' : 'no'),
      el('td', {}, rampText(p)),
      el('td', {}, whyCell(p, explanations)),
    ),
  );
  fillTable('#providers', rows, 'No provider yet: publish a model.');
  const bad = providers.filter((p) => p.status !== 'healthy' && p.status !== 'disabled');
  $('#overall').textContent =
    providers.length === 0
      ? 'no providers yet'
      : health.status === 'healthy'
        ? 'all providers healthy'
        : `${bad.length} provider(s) need attention: ${bad.map((p) => p.name).join(', ')}`;
}

/** The share of fetching nodes admitted now, and where a ramp is under way, its step and the next one. */
function rampText(p) {
  if (!p.enabled) return '0% (disabled)';
  if (!p.ramp) return `${p.admitPercent}% of nodes`;
  const step = p.ramp.steps.findIndex((s) => s >= p.admitPercent) + 1;
  const next = p.ramp.nextStepAt ? `, next step ${new Date(p.ramp.nextStepAt).toLocaleTimeString()}` : '';
  return `ramping: ${p.admitPercent}% of nodes (step ${step} of ${p.ramp.steps.length}${next})`;
}

/** Why a provider is not healthy (a failed load on a node, or its reasons), then its notes. */
function whyCell(p, explanations) {
  const box = el('div');
  if (p.lastError) box.append(explain(p.lastError, explanations));
  else if (p.reasons.length > 0) box.append(el('div', {}, p.reasons.join('; ')));
  for (const n of p.notes ?? []) {
    const note = el('div', { class: 'note', 'data-note': `${n.model}@${n.version}` });
    note.append(el('div', {}, `Note: ${n.text}. Not a serving failure: no node received it.`));
    const x = explanations[n.code];
    if (x) note.append(el('div', { class: 'step' }, `${n.code}: ${x.cause}. Fix: ${x.fix}.`));
    box.append(note);
  }
  return box;
}

/**
 * What the validation proved: "integrity only" when no runtime loaded any file (`loadTested: false`),
 * else the runtime that loaded it and, per loaded file, the inputs its smoke run was fed.
 */
function evidenceCell(v) {
  const r = v.report;
  if (!r) return '–';
  const box = el('div', { class: 'evidence' });
  // a FAILED version has no verdict to qualify: its Failure cell says what happened
  if (r.loadTested === false && r.outcome === 'passed') {
    box.append(el('div', { class: 'integrity-only' }, 'integrity only: no file was loaded by a runtime'));
  } else if (r.outcome === 'passed') {
    box.append(el('div', {}, `loaded by ${r.runtime.name} ${r.runtime.version} (${r.executionProvider})`));
  }
  for (const f of r.files ?? []) {
    if (f.inputs && f.inputs.length > 0)
      box.append(
        el(
          'div',
          { class: 'inputs', 'data-file': f.path },
          `${f.path} inputs: ${f.inputs.map((i) => `${i.name} ${i.type} [${i.shape.join(',')}]`).join(', ')}`,
        ),
      );
    if (!f.fedInputs || f.fedInputs.length === 0) continue;
    const list = el('ul', { class: 'fed-inputs', 'data-file': f.path });
    for (const i of f.fedInputs)
      list.append(el('li', {}, `${i.name} ${i.type} [${i.shape.join(',')}] = ${i.value} (${i.source})`));
    box.append(el('div', { class: 'fed-title' }, `${f.path} was fed:`), list);
    if (f.smokeRun === 'skipped')
      box.append(el('div', { class: 'step' }, 'smoke run skipped; the load was proven'));
    for (const note of f.notes ?? []) box.append(el('div', { class: 'step' }, note));
  }
  return box;
}

/** One header row per model (its provider and aliases), then its versions, newest first. */
function renderModels(models, explanations) {
  const rows = models.flatMap((m) => [
    el(
      'tr',
      { class: 'model', 'data-model': m.name },
      el(
        'th',
        { colspan: '8' },
        `${m.name} (provider ${m.provider}) · aliases: ${
          m.aliases.length > 0
            ? m.aliases.map((a) => `${a.alias} → ${a.version}`).join(', ')
            : 'none (latest only)'
        }`,
      ),
    ),
    ...versionRows(m.versions, explanations),
  ]);
  fillTable('#versions', rows, 'No version yet.');
}

function versionRows(versions, explanations) {
  return versions.map((v) => {
    const r = v.report;
    const classes = (r?.nodeClasses ?? []).map((c) =>
      el('div', { class: 'node-class' }, `${c.nodeClass} ${c.fits ? '✓' : '✗'} ${c.reason ?? ''}`.trim()),
    );
    const error =
      v.status === 'FAILED' || v.status === 'QUARANTINED' ? (v.statusReason ?? r?.error) : undefined;
    return el(
      'tr',
      { 'data-version': `${v.model}@${v.version}` },
      el('td', {}, `${v.model}@${v.version}`),
      el('td', {}, v.provider),
      el('td', {}, badge(v.status)),
      el('td', {}, bytes(v.totalSize)),
      el('td', {}, r?.totals.peakRssBytes ? bytes(r.totals.peakRssBytes) : '–'),
      el('td', {}, ...(classes.length > 0 ? classes : ['–'])),
      el('td', {}, evidenceCell(v)),
      el('td', {}, error ? explain(error, explanations) : ''),
    );
  });
}

function renderReports(reports, explanations) {
  const rows = reports
    .filter((r) => r.source === 'field')
    .slice(0, 50)
    .map((r) =>
      el(
        'tr',
        {},
        el('td', {}, new Date(r.at).toLocaleString()),
        el('td', {}, r.node),
        el('td', {}, `${r.model}@${r.version}`),
        el('td', {}, badge(r.outcome)),
        el('td', {}, r.code ? explain({ code: r.code, message: r.message ?? '' }, explanations) : ''),
      ),
    );
  fillTable('#reports', rows, 'No field report yet.');
}

/**
 * Bars per time bucket: validations (blue), candidates they refused (amber) and loads that failed on
 * serving nodes (red). Only red is what the runbook pages for.
 */
function renderChart(reports) {
  const SVG = 'http://www.w3.org/2000/svg';
  const width = 720;
  const height = 160;
  const buckets = 24;
  const now = Date.now();
  const times = reports.map((r) => Date.parse(r.at));
  const span = Math.max(60_000, now - Math.min(now, ...times));
  const size = span / buckets;
  const counts = Array.from({ length: buckets }, () => ({ validations: 0, refused: 0, failures: 0 }));
  for (const r of reports) {
    const i = Math.min(buckets - 1, Math.max(0, Math.floor((Date.parse(r.at) - (now - span)) / size)));
    if (r.source === 'validation') {
      counts[i].validations++;
      if (r.outcome === 'failed') counts[i].refused++;
    } else if (r.outcome === 'failed') counts[i].failures++;
  }
  const max = Math.max(1, ...counts.map((c) => Math.max(c.validations, c.failures)));
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height + 30}`);
  svg.setAttribute('width', String(width));
  svg.setAttribute('role', 'img');
  const totalV = counts.reduce((s, c) => s + c.validations, 0);
  const totalR = counts.reduce((s, c) => s + c.refused, 0);
  const totalF = counts.reduce((s, c) => s + c.failures, 0);
  const minutes = Math.round(span / 60_000);
  svg.setAttribute(
    'aria-label',
    `${totalV} validations (${totalR} refused) and ${totalF} failed loads on nodes in the last ${minutes} minutes`,
  );
  const barWidth = width / buckets / 3 - 2;
  const bar = (x, h, color, title) => {
    const rect = document.createElementNS(SVG, 'rect');
    rect.setAttribute('x', String(x));
    rect.setAttribute('y', String(height - h));
    rect.setAttribute('width', String(barWidth));
    rect.setAttribute('height', String(h));
    rect.setAttribute('fill', color);
    const t = document.createElementNS(SVG, 'title');
    t.textContent = title;
    rect.append(t);
    svg.append(rect);
  };
  counts.forEach((c, i) => {
    const x = (i * width) / buckets;
    const step = width / buckets / 3;
    bar(x, (c.validations / max) * (height - 10), '#4c8bf5', `${c.validations} validation(s)`);
    bar(x + step, (c.refused / max) * (height - 10), '#e9a100', `${c.refused} refused candidate(s)`);
    bar(x + 2 * step, (c.failures / max) * (height - 10), '#d62828', `${c.failures} failed load(s) on nodes`);
  });
  const legend = document.createElementNS(SVG, 'text');
  legend.setAttribute('x', '0');
  legend.setAttribute('y', String(height + 20));
  legend.textContent = `blue: validations (${totalV}), amber: refused candidates (${totalR}), red: failed loads on nodes (${totalF}); last ${minutes} min`;
  svg.append(legend);
  $('#chart').replaceChildren(svg);
}

async function allModels() {
  const models = [];
  let cursor;
  do {
    const page = await api(
      `/api/v1/models?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    models.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return Promise.all(
    models.map(async (m) => {
      const name = encodeURIComponent(m.name);
      const [versions, aliases] = await Promise.all([
        api(`/api/v1/models/${name}/versions?limit=20`),
        api(`/api/v1/models/${name}/aliases`),
      ]);
      return { name: m.name, provider: m.provider, versions: versions.items, aliases: aliases.items };
    }),
  );
}

/** `{ health, providers, models, reports, explanations }`, as local/dashboard/dashboard-data.ts embeds it. */
function render(data) {
  renderProviders(data.providers, data.health, data.explanations);
  renderModels(data.models, data.explanations);
  renderReports(data.reports, data.explanations);
  renderChart(data.reports);
  document.body.dataset.loaded = 'true';
}

async function refresh() {
  try {
    const [health, providers, models, reports, explanations] = await Promise.all([
      api('/health'),
      api('/api/v1/providers'),
      allModels(),
      api('/api/v1/load-reports?limit=500'),
      api('/api/v1/failure-explanations'),
    ]);
    render({ health, providers, models, reports: reports.items, explanations });
    document.body.dataset.source = 'api';
  } catch (e) {
    if (e instanceof NeedsToken) askForToken(e.message);
    else $('#overall').textContent = `cannot reach the registry API: ${e.message}`;
  }
}

const embedded = document.getElementById('dashboard-data');
if (embedded) {
  render(JSON.parse(embedded.textContent));
  document.body.dataset.source = 'embedded';
} else refresh();
setInterval(refresh, 5000);
