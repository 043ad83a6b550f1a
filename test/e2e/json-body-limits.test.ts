import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { MAX_JSON_CONTAINERS, MAX_JSON_DEPTH } from '../../lambdas/http/json-limits.js';
import { MAX_VERSION_FILES } from '../../schemas/version.schema.js';
import { api } from './harness.js';
import { useServer } from './use-server.js';

/** 8 Mi `[` then as many `]` inside a field report: the server's JSON.parse took 10–12 s on it. */
const DEEP = 8 * 1024 * 1024 - 16;
const deepBody = () =>
  Buffer.concat([
    Buffer.from('{"version":"d1","files":'),
    Buffer.alloc(DEEP, '['),
    Buffer.alloc(DEEP, ']'),
    Buffer.from('}'),
  ]);
/** 9 MB of `[{},{},…]`: 3 Mi empty objects, which held the event loop for 6–9 s. */
const flatBody = () =>
  Buffer.from(
    `[${Array(3 * 1024 * 1024)
      .fill('{}')
      .join(',')}]`,
  );

/**
 * What a refused body may cost the server, far below the 7–8 s of CPU JSON.parse spent on these bodies
 * (and the 10–18 s /health waited). The CPU time is the firm measure: on a loaded 2-core CI machine a
 * /health round trip alone can take a second, so its bound is looser.
 */
const SERVER_CPU_LIMIT_MS = 1000;
const HEALTH_WAIT_LIMIT_MS = 3000;

/** The CPU time (user + system) a process has used so far, in ms, from /proc/PID/stat (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

describe('a JSON body that would hold JSON.parse for seconds is refused before it is parsed', () => {
  const fixture = useServer();

  /**
   * POSTs `body` as JSON and, until the answer is in, times /health over and over: the answer, the slowest
   * /health and the server's CPU time over the whole exchange.
   */
  async function postWhileTimingHealth(path: string, body: Buffer) {
    const { url, process: child } = fixture.server;
    const cpuBefore = cpuMs(child.pid!);
    const answer = fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    }).then(async (r) => ({
      status: r.status,
      json: (await r.json()) as { error: Record<string, unknown> },
    }));
    let answered = false;
    void answer.finally(() => {
      answered = true;
    });
    let slowestHealthMs = 0;
    let probes = 0;
    do {
      const started = performance.now();
      expect((await fetch(`${url}/health`)).status).toBe(200);
      slowestHealthMs = Math.max(slowestHealthMs, performance.now() - started);
      probes++;
      await sleep(10);
    } while (!answered);
    return { ...(await answer), slowestHealthMs, probes, serverCpuMs: cpuMs(child.pid!) - cpuBefore };
  }

  it(`answers 8 Mi nested arrays with 400 naming the body and the depth limit (${MAX_JSON_DEPTH}), /health unhindered`, async () => {
    const r = await postWhileTimingHealth('/api/v1/models/nope/versions/1/field-reports', deepBody());
    expect(r.status).toBe(400);
    expect(r.json.error).toEqual({
      code: 'INVALID_REQUEST',
      message: `body: JSON nested deeper than ${MAX_JSON_DEPTH} levels`,
      details: { field: 'body', maxDepth: MAX_JSON_DEPTH },
    });
    expect(r.probes).toBeGreaterThan(0);
    expect(r.serverCpuMs).toBeLessThan(SERVER_CPU_LIMIT_MS);
    expect(r.slowestHealthMs).toBeLessThan(HEALTH_WAIT_LIMIT_MS);
  });

  it(`answers 3 Mi empty objects with 413 naming the body and the limit (${MAX_JSON_CONTAINERS}), /health unhindered`, async () => {
    const r = await postWhileTimingHealth('/api/v1/models/nope/versions/1/field-reports', flatBody());
    expect(r.status).toBe(413);
    expect(r.json.error).toEqual({
      code: 'PAYLOAD_TOO_LARGE',
      message: `body: more than ${MAX_JSON_CONTAINERS} JSON objects and arrays`,
      details: { field: 'body', maxContainers: MAX_JSON_CONTAINERS },
    });
    expect(r.serverCpuMs).toBeLessThan(SERVER_CPU_LIMIT_MS);
    expect(r.slowestHealthMs).toBeLessThan(HEALTH_WAIT_LIMIT_MS);
  });

  it('stores nothing for a refused manifest, and still takes one of the most files a version may hold', async () => {
    const { server } = fixture;
    expect((await api(server, 'POST', '/api/v1/models', { name: 'big' })).status).toBe(201);
    const file = (i: number) => ({
      path: `${`${i}`.padEnd(255, 'a')}/${`${i}`.padEnd(255, 'b')}`,
      size: 1,
      sha256: i.toString(16).padStart(64, '0'),
      md5: 'b'.repeat(32),
    });
    const files = Array.from({ length: MAX_VERSION_FILES }, (_, i) => file(i));

    const nested = `{"version":"1","files":${JSON.stringify(files)},"inputShapes":{"x":${'['.repeat(MAX_JSON_DEPTH)}1${']'.repeat(MAX_JSON_DEPTH)}}}`;
    const refused = await api(server, 'POST', '/api/v1/models/big/versions', nested);
    expect(refused.status).toBe(400);
    expect(refused.json?.error.details).toEqual({ field: 'body', maxDepth: MAX_JSON_DEPTH });
    expect((await api(server, 'GET', '/api/v1/models/big/versions/1')).status).toBe(404);

    const taken = await api(server, 'POST', '/api/v1/models/big/versions', { version: '1', files });
    expect(taken.status).toBe(201);
    expect(taken.json?.version.files).toHaveLength(MAX_VERSION_FILES);
    expect(server.logs.filter((line) => JSON.parse(line).level === 'error')).toEqual([]);
  });
});
