import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admitsNode } from '../../core/provider-ramp.js';
import { buildMlpModel, truncate } from '../fixtures/onnx-writer.js';
import { eventually } from '../helpers/eventually.js';
import { type PrometheusHandle, startPrometheus } from '../helpers/prometheus-server.js';
import { needs } from '../helpers/system-programs.js';
import { api, type ServerHandle } from './harness.js';
import { useServer } from './use-server.js';

const ROOT = join(import.meta.dirname, '..', '..');
const RULES = join(ROOT, 'deploy', 'prometheus', 'modelgate-rules.yml');
const RUNBOOK_URL = 'http://localhost:8000';

/** Runs a command of the runbook as written, with its example URL replaced by the live server's. */
function runbook(command: string, serverUrl: string, env: Record<string, string> = {}): string {
  return execFileSync('bash', ['-o', 'pipefail', '-c', command.replaceAll(RUNBOOK_URL, serverUrl)], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
}

/** jq's pretty output: top-level values, each ending with a line holding only `}`. */
// biome-ignore lint/suspicious/noExplicitAny: jq's output is untyped JSON, read only by the assertions
const jqValues = (text: string): Record<string, any>[] =>
  text
    .split(/^}$/m)
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => JSON.parse(`${s}\n}`));

/** Prometheus scrapes and evaluates every second: its answers are awaited, never assumed. */
const until = <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 45_000): Promise<T> =>
  eventually(probe, { what, timeoutMs, intervalMs: 500 });

/**
 * The on-call engineer's view: a real modelgate, a real Prometheus scraping it every second, a failed
 * field load of provider `failing` (and a refused candidate of it), a refused candidate of provider
 * `gated` that serves a good version, nothing wrong with provider `healthy`; the runbook's PromQL, jq,
 * grep and curl commands run as written. The runbook's signals must name `failing` only: a refused
 * candidate is a prevented incident (validation_failures, a ticket alert, a note in /health).
 */
const need = needs(['prometheus', 'jq', 'curl']);

describe.skipIf(need.skip)(
  need.title('runbook MODEL_LOAD_ERROR against a live modelgate and Prometheus'),
  () => {
    const fixture = useServer((dir) => ({
      args: ['--log-file', join(dir, 'logs', 'app.log')],
      env: { MODELGATE_METRICS_REFRESH_MS: '1000' },
    }));
    let server: ServerHandle;
    let prometheus: PrometheusHandle;
    let work: string;
    let logFile: string;
    const run = fixture.run;

    beforeAll(async () => {
      ({ server, work } = fixture);
      logFile = join(work, 'logs', 'app.log');
      prometheus = await startPrometheus({ dir: work, target: new URL(server.url).host, ruleFiles: [RULES] });
      const model = buildMlpModel({ layers: 2, dim: 16 });
      writeFileSync(join(work, 'good.onnx'), model);
      writeFileSync(join(work, 'other.onnx'), buildMlpModel({ layers: 2, dim: 16, seed: 7 }));
      writeFileSync(join(work, 'truncated.onnx'), truncate(model, Math.floor(model.length / 2)));
      expect((await run('publish', 'vision@1', 'good.onnx', '--provider', 'healthy', '--wait')).code).toBe(0);
      expect((await run('publish', 'det@1', 'other.onnx', '--provider', 'failing', '--wait')).code).toBe(0);
      expect((await run('publish', 'lid@1', 'good.onnx', '--provider', 'gated', '--wait')).code).toBe(0);
      // candidates refused by validation: prevented incidents, not serving failures …
      expect((await run('publish', 'det@2', 'truncated.onnx', '--provider', 'failing', '--wait')).code).toBe(
        3,
      );
      expect((await run('publish', 'lid@2', 'truncated.onnx', '--provider', 'gated', '--wait')).code).toBe(3);
      // … and a field failure, and a good field load for the healthy provider
      const field = await run(
        'report',
        'det@1',
        '--outcome',
        'failed',
        '--code',
        'INSUFFICIENT_MEMORY',
        '--message',
        'OOM',
        '--node',
        'node-a',
      );
      expect(field.code).toBe(0);
      expect((await run('report', 'vision@1', '--outcome', 'ok', '--node', 'node-a')).code).toBe(0);
    });
    afterAll(async () => {
      await prometheus?.stop();
    });

    it("evaluates the runbook's detection queries: only the provider that failed on a node shows", async () => {
      const nonEmpty = (q: string) =>
        until(q, async () => ((await prometheus.query(q)).length > 0 ? prometheus.query(q) : undefined));
      const total = await nonEmpty('sum(rate(ocr_errors_total{code="MODEL_LOAD_ERROR"}[5m])) > 0');
      expect(Number(total[0]!.value[1])).toBeGreaterThan(0);
      await nonEmpty('model_load_failure_rate{provider="failing"} > 0');
      const init = await nonEmpty('ocr_provider_initialization_failed_total > 0');
      expect(init.map((s) => s.metric.provider)).toEqual(['failing']);
      expect(Number(init[0]!.value[1])).toBe(1); // the failed field load; the refused det@2 is not counted

      // the other providers' series exist, at 0: an empty answer below is a real "no", not a missing series
      for (const provider of ['healthy', 'gated']) {
        expect(await prometheus.query(`model_load_failure_rate{provider="${provider}"}`)).toHaveLength(1);
        expect(await prometheus.query(`model_load_failure_rate{provider="${provider}"} > 0`)).toEqual([]);
      }
      expect(
        await prometheus.query(
          'sum(rate(ocr_errors_total{code="MODEL_LOAD_ERROR",provider=~"healthy|gated"}[5m])) > 0',
        ),
      ).toEqual([]);
      const reasons = await prometheus.query('ocr_errors_total > 0');
      expect(reasons.map((s) => `${s.metric.provider} ${s.metric.version}:${s.metric.reason}`)).toEqual([
        'failing 1:INSUFFICIENT_MEMORY',
      ]);
      // the refused candidates, each counted once in their own metric
      const refused = await nonEmpty('ocr_validation_failures_total > 0');
      expect(
        refused.map((s) => `${s.metric.provider} ${s.metric.model} ${s.metric.code} ${s.value[1]}`).sort(),
      ).toEqual(['failing det MODEL_CORRUPTED 1', 'gated lid MODEL_CORRUPTED 1']);

      const firing = (alertname: string) =>
        until(`${alertname} alert`, async () => {
          const r = await prometheus.query(`ALERTS{alertname="${alertname}",alertstate="firing"}`);
          return r.length > 0 ? r : undefined;
        });
      expect((await firing('ModelLoadError')).map((a) => a.metric.provider)).toEqual(['failing']);
      expect((await firing('ProviderInitializationFailed')).map((a) => a.metric.provider)).toEqual([
        'failing',
      ]);
      const tickets = await until('both ModelValidationFailed alerts', async () => {
        const r = await prometheus.query('ALERTS{alertname="ModelValidationFailed",alertstate="firing"}');
        return r.length === 2 ? r : undefined;
      });
      expect(tickets.map((a) => `${a.metric.provider} ${a.metric.severity}`).sort()).toEqual([
        'failing info',
        'gated info',
      ]);
      // nothing critical fires for the provider whose only trouble is a refused candidate
      expect(await prometheus.query('ALERTS{severity="critical",provider="gated"}')).toEqual([]);
      const files = await prometheus.query('ocr_model_files_present');
      expect(Object.fromEntries(files.map((s) => [s.metric.provider, s.value[1]]))).toEqual({
        healthy: '1',
        failing: '1',
        gated: '1',
      });
    });

    it("lists exactly the failing provider with the runbook's two jq commands", () => {
      const health = jqValues(
        runbook(
          `curl http://localhost:8000/health | jq '.providers | to_entries[] |
  select(.value.status != "healthy") | {provider: .key, status: .value}'`,
          server.url,
        ),
      );
      expect(health.map((h) => h.provider)).toEqual(['failing']);
      expect(health[0]!.status).toMatchObject({
        status: 'unhealthy',
        currentVersion: 'det@1',
        modelLoaded: false,
      });
      expect(health[0]!.status.lastError).toMatchObject({ code: 'INSUFFICIENT_MEMORY', source: 'field' });
      expect(health[0]!.status.notes.map((n: { text: string }) => n.text)).toEqual([
        'det@2 was refused by validation (MODEL_CORRUPTED); det@1 is still served',
      ]);

      const providers = jqValues(
        runbook(
          `curl http://localhost:8000/api/v1/ocr/providers | jq '.[] |
  select(.model_loaded == false)'`,
          server.url,
        ),
      );
      expect(providers.map((p) => p.name)).toEqual(['failing']);
    });

    it('keeps the provider whose candidate was refused healthy, the refusal a note in /health', async () => {
      const gated = (await api(server, 'GET', '/health')).json!.providers.gated;
      expect(gated).toMatchObject({
        status: 'healthy',
        healthScore: 1,
        currentVersion: 'lid@1',
        modelLoaded: true,
        lastError: null,
        reasons: [],
        notes: [
          {
            kind: 'candidate-refused',
            model: 'lid',
            version: '2',
            code: 'MODEL_CORRUPTED',
            served: 'lid@1',
            text: 'lid@2 was refused by validation (MODEL_CORRUPTED); lid@1 is still served',
          },
        ],
      });
    });

    it("finds the failed loads with the runbook's grep, as JSON lines with provider, model, version and reason", () => {
      const lines = runbook(
        `grep -E "MODEL_LOAD_ERROR|Failed to load model|Model initialization failed" \\
  /app/logs/app.log | tail -50`.replace('/app/logs/app.log', logFile),
        server.url,
      )
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const failed = lines.filter((l) => l.event === 'model_load_failed');
      expect(failed.map((l) => `${l.provider} ${l.model}@${l.version} ${l.reason}`)).toEqual([
        'failing det@1 INSUFFICIENT_MEMORY',
      ]);
      expect(lines).toEqual(failed); // the grep finds nothing else
      expect(
        failed.every(
          (l) =>
            l.level === 'error' &&
            l.code === 'MODEL_LOAD_ERROR' &&
            l.message.startsWith('Failed to load model'),
        ),
      ).toBe(true);
      // every line of the file is one JSON event, and stdout carried the same lines
      const all = readFileSync(logFile, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(all.every((l) => typeof l.event === 'string')).toBe(true);
      expect(server.logs.filter((l) => l.includes('"model_load_failed"'))).toHaveLength(1);
      // the refused candidates are in the log, at info, with their cause
      const refused = all.filter((l) => l.event === 'validation_failed');
      expect(refused.map((l) => `${l.level} ${l.provider} ${l.model}@${l.version} ${l.code}`).sort()).toEqual(
        ['info failing det@2 MODEL_CORRUPTED', 'info gated lid@2 MODEL_CORRUPTED'],
      );
      expect(refused.every((l) => typeof l.cause === 'string' && l.cause.length > 0)).toBe(true);
    });

    it("re-validates a provider with the runbook's curl POST /api/v1/ocr/test", () => {
      const out = JSON.parse(
        runbook(
          `curl -X POST http://localhost:8000/api/v1/ocr/test \\
  -H "Content-Type: application/json" \\
  -d '{"provider": "'$PROVIDER'", "init_only": true}'`,
          server.url,
          { PROVIDER: 'healthy' },
        ),
      );
      expect(out).toMatchObject({
        provider: 'healthy',
        ok: true,
        results: [{ model: 'vision', version: '1', outcome: 'passed' }],
      });
    });

    it('disables a provider (fetch refused, exit 4) and re-enables it by a ramp of nodes', async () => {
      const dest = join(work, 'dest');
      expect((await run('provider', 'disable', 'healthy', '--reason', 'incident 7')).code).toBe(0);
      const refused = await run('fetch', 'vision@1', '--dest', dest, '--node', 'node-a');
      expect(refused.code).toBe(4);
      expect(refused.stderr).toMatch(/^error PROVIDER_DISABLED: provider healthy is disabled \(incident 7\)/);
      // the server logs the refusal as a warning naming its code, without a stack trace
      const refusals = await until('the request_refused log line', async () => {
        const found = server.logs.filter((l) => l.includes('"request_refused"')).map((l) => JSON.parse(l));
        return found.length > 0 ? found : undefined;
      });
      expect(refusals).toEqual([
        expect.objectContaining({
          level: 'warn',
          code: 'PROVIDER_DISABLED',
          message: expect.stringContaining('incident 7'),
        }),
      ]);
      expect(refusals[0]).not.toHaveProperty('error');
      expect(JSON.stringify(refusals)).not.toMatch(/\bat .*\.js:\d+/);
      const list = await run('provider', 'list', '--json');
      expect(JSON.parse(list.stdout).find((p: { name: string }) => p.name === 'healthy')).toMatchObject({
        status: 'disabled',
        enabled: false,
      });

      expect((await run('provider', 'enable', 'healthy', '--ramp', '10,100', '--step', '1h')).code).toBe(0);
      const nodes = Array.from({ length: 100 }, (_, i) => `node-${i}`);
      const inside = nodes.find((n) => admitsNode(10, n))!;
      const outside = nodes.find((n) => !admitsNode(10, n))!;
      expect((await run('fetch', 'vision@1', '--dest', dest, '--node', outside)).code).toBe(4);
      expect((await run('fetch', 'vision@1', '--dest', dest, '--node', inside, '--report')).code).toBe(0);
      // failures from two nodes during the ramp roll it back (one reporter alone does not)
      const second = nodes.find((n) => n !== inside && admitsNode(10, n))!;
      expect(
        (
          await run(
            'report',
            'vision@1',
            '--outcome',
            'failed',
            '--code',
            'GPU_UNAVAILABLE',
            '--node',
            inside,
          )
        ).stdout,
      ).not.toContain('ramp is rolled back');
      expect(
        (
          await run(
            'report',
            'vision@1',
            '--outcome',
            'failed',
            '--code',
            'GPU_UNAVAILABLE',
            '--node',
            second,
          )
        ).stdout,
      ).toContain('ramp is rolled back');
      expect((await api(server, 'GET', '/api/v1/providers/healthy')).json).toMatchObject({
        status: 'disabled',
        disabledBy: 'ramp-rollback',
      });
      expect((await run('provider', 'enable', 'healthy')).code).toBe(0);
    });

    it('quarantines det@1 after failures from three nodes; fetch refuses it; an admin releases it', async () => {
      expect((await run('alias', 'set', 'det', 'production', '1')).code).toBe(0);
      for (const node of ['node-b', 'node-c'])
        await run('report', 'det@1', '--outcome', 'failed', '--code', 'INSUFFICIENT_MEMORY', '--node', node);
      expect(JSON.parse((await run('status', 'det@1', '--json')).stdout).status).toBe('QUARANTINED');
      const refused = await run('fetch', 'det@1', '--dest', join(work, 'd2'));
      expect(refused.code).toBe(4);
      expect(refused.stderr).toContain('QUARANTINED');
      expect(server.logs.some((l) => l.includes('"version_quarantined"'))).toBe(true);
      // nothing VERIFIED before det@1 to fall back to (det@2 FAILED, above it): production stays on it, refused
      expect((await run('fetch', 'det@production', '--dest', join(work, 'd2'))).stderr).toContain(
        'NOT_VERIFIED',
      );
      expect((await run('release', 'det@1')).stdout.trim()).toBe('det@1 VERIFIED');
    });

    it('rebuilds state after a restart and applies DISABLED_PROVIDERS, as the runbook exports it', async () => {
      server = await fixture.restart({ env: { DISABLED_PROVIDERS: 'failing' } });
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toMatch(
        /^ocr_model_size_bytes\{provider="healthy",model="vision",version="1",state="stored"\} \d+$/m,
      );
      expect(metrics).toContain('ocr_provider_initialization_failed_total{provider="failing"} 0');
      expect(metrics).toContain(
        'ocr_validation_failures_total{provider="gated",model="lid",code="MODEL_CORRUPTED"} 0',
      );
      const health = (await api(server, 'GET', '/health')).json!;
      expect(health.providers.failing.status).toBe('disabled');
      const refused = await run('fetch', 'det@1', '--dest', join(work, 'd3'));
      expect(refused.code).toBe(4);
      expect(refused.stderr).toContain('PROVIDER_DISABLED');
      // `unset DISABLED_PROVIDERS` and restart: enabled again
      server = await fixture.restart();
      expect((await api(server, 'GET', '/health')).json!.providers.failing.status).not.toBe('disabled');
    });
  },
);
