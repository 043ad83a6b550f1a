// The dashboard: plain browser JavaScript, no build step. Everything shown is fetched from the same
// API the CLI uses; nothing is rendered on the server, so the page is never a stale copy.

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

async function api(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

/** The failure in plain words with the runbook step that fixes it (core/failure-explanations.ts). */
function explain(error, explanations) {
  if (!error) return '';
  const x = explanations[error.code];
  const box = el('div');
  box.append(el('div', { class: 'cause' }, `${error.code}: ${x ? x.cause : error.message}`));
  if (x) box.append(el('div', { class: 'step' }, `Runbook: ${x.runbookStep}. Fix: ${x.fix}.`));
  return box;
}

function fillTable(selector, rows, emptyText) {
  const body = $(`${selector} tbody`);
  body.replaceChildren(...rows);
  if (rows.length === 0) body.append(el('tr', {}, el('td', { colspan: '7', class: 'empty' }, emptyText)));
}

function renderProviders(providers, explanations) {
  const rows = providers.map((p) =>
    el(
      'tr',
      { 'data-provider': p.name },
      el('td', {}, p.name),
      el('td', {}, badge(p.status)),
      el('td', {}, p.healthScore.toFixed(2)),
      el('td', {}, p.currentVersion ?? 'none'),
      el('td', {}, p.model_loaded ? 'yes' : 'no'),
      el('td', {}, p.lastError ? explain(p.lastError, explanations) : p.reasons.join('; ')),
    ),
  );
  fillTable('#providers', rows, 'No provider yet: publish a model.');
  const bad = providers.filter((p) => p.status !== 'healthy' && p.status !== 'disabled');
  $('#overall').textContent =
    providers.length === 0
      ? 'no providers yet'
      : bad.length === 0
        ? 'all providers healthy'
        : `${bad.length} provider(s) need attention: ${bad.map((p) => p.name).join(', ')}`;
}

/** A passed report whose files no runtime loaded (core/failure-explanations.ts wasLoadTested). */
function integrityOnly(r) {
  if (r?.outcome !== 'passed') return false;
  return !(r.loadTested ?? r.files.some((f) => f.check === 'loaded' && f.ok));
}

function renderVersions(versions, explanations) {
  const rows = versions.map((v) => {
    const r = v.report;
    const classes = (r?.nodeClasses ?? []).map((c) => `${c.nodeClass} ${c.fits ? '✓' : '✗'}`).join(', ');
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
      el('td', {}, classes || '–'),
      el(
        'td',
        {},
        error
          ? explain(error, explanations)
          : integrityOnly(r)
            ? 'integrity only: no file was loaded by a runtime'
            : '',
      ),
    );
  });
  fillTable('#versions', rows, 'No version yet.');
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

/** Bars per time bucket: validations (all) and failures (validations and field loads that failed). */
function renderChart(reports) {
  const SVG = 'http://www.w3.org/2000/svg';
  const width = 720;
  const height = 160;
  const buckets = 24;
  const now = Date.now();
  const times = reports.map((r) => Date.parse(r.at));
  const span = Math.max(60_000, now - Math.min(now, ...times));
  const size = span / buckets;
  const counts = Array.from({ length: buckets }, () => ({ validations: 0, failures: 0 }));
  for (const r of reports) {
    const i = Math.min(buckets - 1, Math.max(0, Math.floor((Date.parse(r.at) - (now - span)) / size)));
    if (r.source === 'validation') counts[i].validations++;
    if (r.outcome === 'failed') counts[i].failures++;
  }
  const max = Math.max(1, ...counts.map((c) => Math.max(c.validations, c.failures)));
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${width} ${height + 30}`);
  svg.setAttribute('width', String(width));
  svg.setAttribute('role', 'img');
  const totalV = counts.reduce((s, c) => s + c.validations, 0);
  const totalF = counts.reduce((s, c) => s + c.failures, 0);
  svg.setAttribute(
    'aria-label',
    `${totalV} validations and ${totalF} failures in the last ${Math.round(span / 60_000)} minutes`,
  );
  const bar = (x, h, color, title) => {
    const rect = document.createElementNS(SVG, 'rect');
    rect.setAttribute('x', String(x));
    rect.setAttribute('y', String(height - h));
    rect.setAttribute('width', String(width / buckets / 2 - 2));
    rect.setAttribute('height', String(h));
    rect.setAttribute('fill', color);
    const t = document.createElementNS(SVG, 'title');
    t.textContent = title;
    rect.append(t);
    svg.append(rect);
  };
  counts.forEach((c, i) => {
    const x = (i * width) / buckets;
    bar(x, (c.validations / max) * (height - 10), '#4c8bf5', `${c.validations} validation(s)`);
    bar(x + width / buckets / 2, (c.failures / max) * (height - 10), '#d62828', `${c.failures} failure(s)`);
  });
  const legend = document.createElementNS(SVG, 'text');
  legend.setAttribute('x', '0');
  legend.setAttribute('y', String(height + 20));
  legend.textContent = `blue: validations (${totalV}), red: failures (${totalF}); last ${Math.round(span / 60_000)} min`;
  svg.append(legend);
  $('#chart').replaceChildren(svg);
}

async function allVersions() {
  const models = [];
  let cursor;
  do {
    const page = await api(
      `/api/v1/models?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
    );
    models.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  const pages = await Promise.all(
    models.map((m) => api(`/api/v1/models/${encodeURIComponent(m.name)}/versions?limit=20`)),
  );
  return pages.flatMap((p) => p.items);
}

async function refresh() {
  try {
    const [providers, versions, reports, explanations] = await Promise.all([
      api('/api/v1/providers'),
      allVersions(),
      api('/api/v1/load-reports?limit=500'),
      api('/api/v1/failure-explanations'),
    ]);
    renderProviders(providers, explanations);
    renderVersions(versions, explanations);
    renderReports(reports.items, explanations);
    renderChart(reports.items);
    document.body.dataset.loaded = 'true';
  } catch (e) {
    $('#overall').textContent = `cannot reach the registry API: ${e.message}`;
  }
}

refresh();
setInterval(refresh, 5000);
