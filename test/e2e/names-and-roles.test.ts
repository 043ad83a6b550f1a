import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildMlpModel } from '../fixtures/onnx-writer.js';
import { eventually } from '../helpers/eventually.js';
import { api, cli, removeDir, type ServerHandle, startServer, tempDir } from './harness.js';
import { useServer } from './use-server.js';

const MiB = 1024 ** 2;

/** A raw HTTP request, so that any header (Host, Origin, Content-Type) is sent exactly as given. */
function raw(
  server: ServerHandle,
  method: string,
  path: string,
  headers: Record<string, string>,
  body = '',
): Promise<{
  status: number;
  text: string;
  json: { error?: { code: string; details?: { field?: string } } };
}> {
  const url = new URL(path, server.url);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          const json = res.headers['content-type']?.startsWith('application/json') ? JSON.parse(text) : {};
          resolve({ status: res.statusCode ?? 0, text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('names, deprecation, budgets, cross-site requests and logs (open loopback server)', () => {
  const fixture = useServer({ args: ['--memory-budget', '512MiB'] });
  const { run } = fixture;

  beforeAll(async () => {
    writeFileSync(join(fixture.work, 'm.onnx'), buildMlpModel({ layers: 1, dim: 16 }));
    expect((await run('publish', 'det@1', 'm.onnx', '--provider', 'paddle', '--wait')).code).toBe(0);
    expect((await run('publish', 'det@staging', 'm.onnx', '--wait')).code).toBe(0);
    expect((await run('alias', 'set', 'det', 'production', '1')).code).toBe(0);
  });

  it('refuses to publish a version named like an alias, or latest; @production still serves 1', async () => {
    const shadow = await run('publish', 'det@production', 'm.onnx');
    expect(shadow.code).toBe(4);
    expect(shadow.stderr).toMatch(
      /^error CONFLICT: version: det@production would shadow the alias production/,
    );
    const latest = await run('publish', 'det@latest', 'm.onnx');
    expect(latest.code).toBe(2);
    expect(latest.stderr).toMatch(/^error INVALID_REQUEST: version: latest/);
    const resolved = await api(fixture.server, 'GET', '/api/v1/models/det/resolve/production');
    expect(resolved.json?.version).toBe('1');
  });

  it('refuses to set an alias named like a version', async () => {
    const r = await run('alias', 'set', 'det', 'staging', '1');
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^error CONFLICT: alias: staging would shadow version det@staging/);
    expect((await api(fixture.server, 'GET', '/api/v1/models/det/resolve/staging')).json?.version).toBe(
      'staging',
    );
  });

  it('deprecates a version by CLI: never fetched again', async () => {
    const r = await run('deprecate', 'det@staging', '--reason', 'superseded', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      status: 'DEPRECATED',
      deprecation: { reason: 'superseded' },
    });
    const fetched = await run('fetch', 'det@staging', '--dest', join(fixture.work, 'dest'));
    expect(fetched.code).toBe(4);
    expect(fetched.stderr).toContain('DEPRECATED');
    expect((await run('status', 'det@staging')).stdout).toMatch(/^ {2}deprecated \S+: superseded$/m);
    expect((await run('deprecate', 'det@nope')).code).toBe(4);
  });

  it('refuses a publisher budget above the server budget (400 CONFIG_INVALID, field memoryBudgetBytes)', async () => {
    const r = await run('publish', 'det@big', 'm.onnx', '--memory-budget', '3GiB');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error CONFIG_INVALID: memoryBudgetBytes: /);
    const res = await api(fixture.server, 'POST', '/api/v1/models/det/versions', {
      version: 'huge',
      memoryBudgetBytes: 1e15,
      files: [{ path: 'm.onnx', size: 1, sha256: 'a'.repeat(64), md5: 'b'.repeat(32) }],
    });
    expect(res.status).toBe(400);
    expect(res.json?.error).toMatchObject({
      code: 'CONFIG_INVALID',
      details: { field: 'memoryBudgetBytes' },
    });
    expect((await api(fixture.server, 'GET', '/api/v1/models/det/versions/huge')).status).toBe(404);
  });

  it('refuses a cross-site text/plain POST (403) and leaves the provider enabled', async () => {
    const body = JSON.stringify({ reason: 'pwned' });
    const evil = await raw(
      fixture.server,
      'POST',
      '/api/v1/providers/paddle/disable',
      {
        origin: 'https://evil.example',
        'content-type': 'text/plain',
      },
      body,
    );
    expect(evil.status).toBe(403);
    expect(evil.json.error).toMatchObject({ code: 'FORBIDDEN', details: { field: 'origin' } });
    const rebound = await raw(
      fixture.server,
      'POST',
      '/api/v1/providers/paddle/disable',
      {
        host: `evil.example:${new URL(fixture.server.url).port}`,
        'content-type': 'application/json',
      },
      body,
    );
    expect(rebound.status).toBe(403);
    expect(rebound.json.error?.details?.field).toBe('host');
    const provider = await api(fixture.server, 'GET', '/api/v1/providers/paddle');
    expect(provider.json?.status).not.toBe('disabled');
  });

  it('serves the dashboard, /metrics and /health to its own names only (a rebinding page reads none)', async () => {
    const port = new URL(fixture.server.url).port;
    for (const path of ['/', '/dashboard/app.js', '/metrics', '/health', '/api/v1/openapi.json']) {
      const rebound = await raw(fixture.server, 'GET', path, { host: `evil.example:${port}` });
      expect(rebound.status, path).toBe(403);
      expect(rebound.json.error?.details?.field, path).toBe('host');
      expect(rebound.text, path).not.toMatch(/"det"|model="det"/);
      const own = await raw(fixture.server, 'GET', path, { host: `localhost:${port}` });
      expect(own.status, path).toBe(200);
      if (path === '/' || path === '/metrics') expect(own.text, path).toMatch(/"det"|model="det"/);
    }
  });

  it('refuses a JSON route body that is not application/json (400, field content-type)', async () => {
    const r = await raw(
      fixture.server,
      'POST',
      '/api/v1/providers/paddle/disable',
      {
        'content-type': 'text/plain',
      },
      JSON.stringify({ reason: 'typo' }),
    );
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: 'INVALID_REQUEST', details: { field: 'content-type' } });
    expect((await api(fixture.server, 'GET', '/api/v1/providers/paddle')).json?.status).not.toBe('disabled');
  });

  it('logs an aborted transfer without the signature of its URL', async () => {
    const bytes = Buffer.alloc(4 * MiB, 7);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const started = await api(fixture.server, 'POST', '/api/v1/models/det/versions', {
      version: 'aborted',
      files: [
        { path: 'big.bin', size: bytes.length, sha256, md5: createHash('md5').update(bytes).digest('hex') },
      ],
    });
    expect(started.status).toBe(201);
    const target = new URL(started.json!.uploads[0].url);
    const signature = target.searchParams.get('sig')!;
    expect(signature.length).toBeGreaterThan(10);
    await new Promise<void>((resolve) => {
      const req = request(target, { method: 'PUT', headers: { 'content-length': String(bytes.length) } });
      req.on('error', () => resolve());
      req.write(bytes.subarray(0, MiB), () => setTimeout(() => req.destroy(), 200));
      req.on('close', () => resolve());
    });
    const logs = fixture.server.logs;
    await eventually(() => logs.some((l) => l.includes(`/blobs/sha256/${sha256}`)), {
      what: 'the aborted transfer in the log',
      intervalMs: 100,
    });
    const lines = logs.filter((l) => l.includes(sha256));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of logs) {
      expect(line).not.toContain(signature);
      expect(line).not.toMatch(/[?&]sig=/);
    }
  });
});

describe('tokens and field reporters (server with MODELGATE_TOKENS)', () => {
  // base64 tokens, with '=' padding and '=' inside
  const TOKENS = {
    admin: 'YWRtaW4tdG9rZW4tMDAwMDAwMDE=',
    reader: 'cmVhZGVyLXRva2VuLTAwMDAwMDE==',
    nodeA: 'bm9kZS1hLXRva2VuLTAwMDAwMQ==',
    nodeB: 'bm9kZS1iLXRva2VuLTAwMDAwMQ==',
  };
  const fixture = useServer({
    env: {
      MODELGATE_TOKENS: `admin=${TOKENS.admin},reader=${TOKENS.reader},node=${TOKENS.nodeA},node=${TOKENS.nodeB}`,
    },
  });
  const as = (token: string, ...args: string[]) =>
    cli(args, { ...fixture.server.env, MODELGATE_TOKEN: token }, fixture.work);
  const status = async (ref: string) =>
    JSON.parse((await as(TOKENS.reader, 'status', ref, '--json')).stdout).status;
  const fail = (token: string, ref: string, node: string) =>
    as(token, 'report', ref, '--outcome', 'failed', '--code', 'INSUFFICIENT_MEMORY', '--node', node);

  beforeAll(async () => {
    writeFileSync(join(fixture.work, 'm.onnx'), buildMlpModel({ layers: 1, dim: 16 }));
    for (const v of ['1', '2'])
      expect((await as(TOKENS.admin, 'publish', `rec@${v}`, 'm.onnx', '--wait')).code).toBe(0);
  });

  it('accepts base64 tokens with = verbatim, and refuses a wrong one', async () => {
    expect((await as(TOKENS.reader, 'list', '--json')).code).toBe(0);
    const wrong = await as(TOKENS.reader.replace(/=+$/, ''), 'list');
    expect(wrong.code).toBe(4);
    expect(wrong.stderr).toMatch(/^error UNAUTHORIZED/);
    const denied = await as(TOKENS.reader, 'deprecate', 'rec@2');
    expect(denied.code).toBe(4);
    expect(denied.stderr).toMatch(/^error FORBIDDEN: this route needs the admin role/);
  });

  it("keeps the registry off the dashboard page, /metrics and /health's details without a token; /health stays open", async () => {
    const page = await raw(fixture.server, 'GET', '/', {});
    expect(page.status).toBe(200);
    expect(page.text).toContain('id="token-form"');
    expect(page.text).not.toContain('dashboard-data');
    expect(page.text).not.toContain('"rec"');
    const bare = await raw(fixture.server, 'GET', '/metrics', {});
    expect(bare.status).toBe(401);
    expect(bare.json.error?.code).toBe('UNAUTHORIZED');
    const scraped = await raw(fixture.server, 'GET', '/metrics', {
      authorization: `Bearer ${TOKENS.reader}`,
    });
    expect(scraped.status).toBe(200);
    expect(scraped.text).toMatch(/^ocr_model_size_bytes\{.*model="rec"/m);
    const bareHealth = await raw(fixture.server, 'GET', '/health', {});
    expect(bareHealth.status).toBe(200);
    expect(Object.keys(JSON.parse(bareHealth.text)).sort()).toEqual(['status', 'version']);
    const health = await raw(fixture.server, 'GET', '/health', { authorization: `Bearer ${TOKENS.reader}` });
    expect(JSON.parse(health.text).providers).toBeTypeOf('object');
    expect(health.text).toContain('rec');
  });

  it('does not quarantine on one reader token reporting as three nodes', async () => {
    for (const node of ['n1', 'n2', 'n3']) expect((await fail(TOKENS.reader, 'rec@1', node)).code).toBe(0);
    expect(await status('rec@1')).toBe('VERIFIED');
  });

  it('quarantines on failures from two distinct node tokens (three nodes)', async () => {
    await fail(TOKENS.nodeA, 'rec@2', 'a1');
    await fail(TOKENS.nodeA, 'rec@2', 'a2');
    expect(await status('rec@2')).toBe('VERIFIED');
    await fail(TOKENS.nodeB, 'rec@2', 'b1');
    expect(await status('rec@2')).toBe('QUARANTINED');
  });
});

describe('MODELGATE_TOKENS with one token under two roles', () => {
  it('refuses to start, naming the roles and not the token', async () => {
    const token = 'dHdvLXJvbGVzLXRva2VuLTAwMDE=';
    const dataDir = tempDir();
    const error = await startServer({ dataDir, env: { MODELGATE_TOKENS: `reader=${token},admin=${token}` } })
      .then(
        async (s) => {
          await s.stop();
          return null;
        },
        (e: Error) => e,
      )
      .finally(() => removeDir(dataDir));
    expect(error?.message).toMatch(/MODELGATE_TOKENS.*two roles \(reader and admin\)/);
    expect(error?.message).not.toContain(token);
  });
});
