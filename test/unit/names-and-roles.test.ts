import type { IncomingMessage } from 'node:http';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { setAlias } from '../../core/aliases.js';
import { planDownload } from '../../core/download.js';
import { RegistryError } from '../../core/errors.js';
import { type ReportSender, recordFieldReport, TRUSTED_MACHINE } from '../../core/load-reports.js';
import { memoryBudgetCap } from '../../core/memory-fit.js';
import { enableProvider } from '../../core/providers.js';
import { startVersion } from '../../core/publish.js';
import { resolveVersion } from '../../core/resolve.js';
import { deprecateVersion } from '../../core/versions.js';
import { OPEN_PRINCIPAL, reportSenderOf } from '../../lambdas/http/principal.js';
import { makeAuthorizer, makeSiteGuard, ownOriginsOf } from '../../local/auth.js';
import { redactUrlQueries } from '../../local/redact.js';
import { parseLocalServerConfig } from '../../schemas/config.schema.js';
import { StartVersionRequest } from '../../schemas/version.schema.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';
import { validated } from '../helpers/operations-fixtures.js';

const GiB = 1024 ** 3;
const sha = (c: string) => c.repeat(64);

const startRequest = (version: string, extra: Record<string, unknown> = {}) =>
  StartVersionRequest.parse({
    version,
    files: [{ path: 'm.onnx', size: 4, sha256: sha('a'), md5: 'b'.repeat(32) }],
    ...extra,
  });

async function failure(p: Promise<unknown>): Promise<RegistryError> {
  const error = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RegistryError);
  return error as RegistryError;
}

describe('versions and aliases share one name space per model', () => {
  let deps: TestDeps;
  beforeEach(async () => {
    deps = await localTestDeps();
    await validated(deps, 'det@1', { provider: 'paddle' });
    await setAlias(deps, 'det', 'production', '1');
  });
  afterEach(() => deps.cleanup());

  it('refuses a version named like an alias of its model (409, field version), and `latest` (400)', async () => {
    const shadow = await failure(startVersion(deps, 'det', startRequest('production')));
    expect(shadow.code).toBe('CONFLICT');
    expect(shadow.details?.field).toBe('version');
    expect(await deps.metadata.getVersion({ model: 'det', version: 'production' })).toBeNull();
    const latest = await failure(startVersion(deps, 'det', startRequest('latest')));
    expect(latest.code).toBe('INVALID_REQUEST');
    expect(latest.details?.field).toBe('version');
    // @production still serves the admin's choice
    expect((await resolveVersion(deps, 'det', 'production')).version).toBe('1');
  });

  it('lets the alias win over a version of the same name left by an older registry', async () => {
    await validated(deps, 'det@2');
    // What a registry written before the rule could hold: a version named like the alias.
    const db = (deps.metadata as unknown as { db: import('better-sqlite3').Database }).db;
    db.pragma('foreign_keys = OFF');
    db.prepare(
      "UPDATE versions SET version = 'production', doc = json_set(doc, '$.version', 'production') WHERE version = '2'",
    ).run();
    db.pragma('foreign_keys = ON');
    expect((await deps.metadata.getVersion({ model: 'det', version: 'production' }))?.seq).toBe(2);
    expect((await resolveVersion(deps, 'det', 'production')).version).toBe('1');
  });

  it('refuses an alias named like a version of its model (409, field alias)', async () => {
    await validated(deps, 'det@staging', { provider: 'paddle' });
    const e = await failure(setAlias(deps, 'det', 'staging', '1'));
    expect(e.code).toBe('CONFLICT');
    expect(e.details?.field).toBe('alias');
    expect(await deps.metadata.getAlias('det', 'staging')).toBeNull();
  });
});

describe('publisher memory budget', () => {
  it('is capped at the server budget, or the largest node class when that is more', () => {
    expect(memoryBudgetCap({ defaultMemoryBudgetBytes: 512 * 1024 ** 2, nodeClasses: [] })).toBe(
      512 * 1024 ** 2,
    );
    const classes = [
      { name: 'small', memoryBytes: 2 * GiB, executionProviders: ['cpu'] },
      { name: 'big', memoryBytes: 16 * GiB, executionProviders: ['cpu'] },
    ];
    expect(memoryBudgetCap({ defaultMemoryBudgetBytes: 2 * GiB, nodeClasses: classes })).toBe(16 * GiB);
  });

  it('refuses a budget above the cap with CONFIG_INVALID naming memoryBudgetBytes; accepts the cap', async () => {
    const deps = await localTestDeps({ defaultMemoryBudgetBytes: 512 * 1024 ** 2 });
    try {
      await validated(deps, 'det@1');
      for (const bytes of [3 * GiB, 1e15]) {
        const e = await failure(startVersion(deps, 'det', startRequest('2', { memoryBudgetBytes: bytes })));
        expect(e.code).toBe('CONFIG_INVALID');
        expect(e.details?.field).toBe('memoryBudgetBytes');
      }
      expect(await deps.metadata.getVersion({ model: 'det', version: '2' })).toBeNull();
      const ok = await startVersion(deps, 'det', startRequest('2', { memoryBudgetBytes: 512 * 1024 ** 2 }));
      expect(ok.version.memoryBudgetBytes).toBe(512 * 1024 ** 2);
    } finally {
      deps.cleanup();
    }
  });
});

describe('deprecate', () => {
  let deps: TestDeps;
  beforeEach(async () => {
    deps = await localTestDeps();
    await validated(deps, 'det@1');
    await validated(deps, 'det@2');
    await setAlias(deps, 'det', 'production', '2');
  });
  afterEach(() => deps.cleanup());

  it('retires a VERIFIED version: never served again, aliases fall back, latest skips it', async () => {
    const v = await deprecateVersion(deps, { model: 'det', version: '2' }, 'bad tokenizer');
    expect(v.status).toBe('DEPRECATED');
    expect(v.deprecation?.reason).toBe('bad tokenizer');
    expect((await resolveVersion(deps, 'det', 'production')).version).toBe('1');
    expect((await resolveVersion(deps, 'det', 'latest')).version).toBe('1');
    expect((await failure(planDownload(deps, 'det', '2'))).code).toBe('NOT_VERIFIED');
    expect((await failure(setAlias(deps, 'det', 'canary', '2'))).code).toBe('NOT_VERIFIED');
    // again: unchanged
    const again = await deprecateVersion(deps, { model: 'det', version: '2' }, 'other');
    expect(again.deprecation?.reason).toBe('bad tokenizer');
    expect((await failure(deprecateVersion(deps, { model: 'det', version: '9' }, undefined))).code).toBe(
      'NOT_FOUND',
    );
  });
});

describe('field reports count distinct authenticated reporters', () => {
  let deps: TestDeps;
  beforeEach(async () => {
    deps = await localTestDeps();
    await validated(deps, 'det@1', { provider: 'paddle' });
  });
  afterEach(() => deps.cleanup());

  const reader: ReportSender = { principal: 'modelgate:reader:aaaaaaaaaaaa', fleet: false };
  const fleetA: ReportSender = { principal: 'modelgate:node:bbbbbbbbbbbb', fleet: true };
  const fleetB: ReportSender = { principal: 'modelgate:node:cccccccccccc', fleet: true };
  const fail = (sender: ReportSender, node: string) =>
    recordFieldReport(
      deps,
      { model: 'det', version: '1' },
      { outcome: 'failed', code: 'INSUFFICIENT_MEMORY', node },
      sender,
    );

  it('a reader token is one reporter whatever node ids it names', async () => {
    for (const node of ['n1', 'n2', 'n3', 'n4']) expect((await fail(reader, node)).quarantined).toBe(false);
    const stored = await deps.metadata.listLoadReports(
      { ref: { model: 'det', version: '1' } },
      { limit: 10 },
    );
    expect(new Set(stored.filter((r) => r.source === 'field').map((r) => r.reporter))).toEqual(
      new Set([reader.principal]),
    );
    expect((await deps.metadata.getVersion({ model: 'det', version: '1' }))?.status).toBe('VERIFIED');
  });

  it('one node token alone never quarantines; two node tokens with three nodes do', async () => {
    for (const node of ['n1', 'n2', 'n3']) expect((await fail(fleetA, node)).quarantined).toBe(false);
    const r = await fail(fleetB, 'n9');
    expect(r.quarantined).toBe(true);
    expect(r.report.reporter).toBe(`${fleetB.principal}/n9`);
  });

  it('on a server without tokens the node ids are believed (its machine is trusted)', async () => {
    await fail(TRUSTED_MACHINE, 'n1');
    await fail(TRUSTED_MACHINE, 'n2');
    expect((await fail(TRUSTED_MACHINE, 'n3')).quarantined).toBe(true);
  });

  it('a ramp is rolled back by two reporters, not by one token reporting twice', async () => {
    await enableProvider(deps, 'paddle', { steps: [10, 100], stepMs: 3600_000 });
    expect((await fail(reader, 'n1')).rampRolledBack).toBe(false);
    expect((await fail(reader, 'n2')).rampRolledBack).toBe(false);
    expect((await fail(fleetA, 'n3')).rampRolledBack).toBe(true);
  });
});

describe('MODELGATE_TOKENS', () => {
  const tokens = (value: string) => parseLocalServerConfig({ MODELGATE_TOKENS: value }).MODELGATE_TOKENS;

  it('keeps values verbatim: base64 with `=` padding, and `=` inside', () => {
    expect(tokens('reader=QUJDREVGR0hJSktMTU5PUA==,node=a=b=c=d=e=f=g=h=i=j')).toEqual([
      { role: 'reader', token: 'QUJDREVGR0hJSktMTU5PUA==' },
      { role: 'node', token: 'a=b=c=d=e=f=g=h=i=j' },
    ]);
  });

  it('refuses one token under two roles, naming the roles and not the token', () => {
    const secret = 'c2VjcmV0LXRva2VuLTEyMzQ1Njc4OQ==';
    let message = '';
    try {
      tokens(`reader=${secret},admin=${secret}`);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/MODELGATE_TOKENS.*two roles \(reader and admin\)/);
    expect(message).not.toContain(secret);
    expect(message).not.toContain('c2VjcmV0');
  });

  it('refuses an unknown role or a short token', () => {
    expect(() => tokens('root=0123456789abcdef')).toThrow(/MODELGATE_TOKENS/);
    expect(() => tokens('admin=short')).toThrow(/≥ 16 chars/);
  });
});

describe('cross-site guard', () => {
  const guard = makeSiteGuard({
    loopback: true,
    ownOrigins: () => ownOriginsOf('127.0.0.1', 8080, undefined),
  });
  const req = (method: string, headers: Record<string, string>) =>
    ({ method, headers: { host: '127.0.0.1:8080', ...headers } }) as unknown as IncomingMessage;
  const refusal = (r: IncomingMessage) => {
    try {
      guard(r);
    } catch (e) {
      return e as RegistryError;
    }
    return null;
  };

  it('lets the CLI (no Origin) and the server’s own pages change state', () => {
    expect(refusal(req('POST', {}))).toBeNull();
    expect(refusal(req('POST', { origin: 'http://127.0.0.1:8080' }))).toBeNull();
    expect(refusal(req('DELETE', { host: 'localhost:8080', origin: 'http://localhost:8080' }))).toBeNull();
    expect(refusal(req('GET', { origin: 'https://evil.example' }))).toBeNull();
  });

  it('refuses a state change from a foreign Origin, and any request to a foreign Host (rebinding)', () => {
    for (const origin of ['https://evil.example', 'null', 'http://127.0.0.1:9999']) {
      const e = refusal(req('POST', { origin }));
      expect(e?.code).toBe('FORBIDDEN');
      expect(e?.details?.field).toBe('origin');
    }
    const noOrigin = refusal(req('POST', { 'sec-fetch-site': 'cross-site' }));
    expect(noOrigin?.details?.field).toBe('origin');
    expect(
      refusal(req('POST', { 'sec-fetch-site': 'same-origin', origin: 'http://127.0.0.1:8080' })),
    ).toBeNull();
    const rebound = refusal(req('GET', { host: 'evil.example:8080' }));
    expect(rebound?.code).toBe('FORBIDDEN');
    expect(rebound?.details?.field).toBe('host');
    // A local port forward (ssh -L 9000:127.0.0.1:8080) keeps the name and changes the port: still ours.
    expect(refusal(req('GET', { host: 'localhost:9000' }))).toBeNull();
    expect(refusal(req('GET', { host: '[::1]:9000' }))).toBeNull();
    expect(refusal(req('GET', { host: 'not a host' }))?.details?.field).toBe('host');
  });
});

describe('redactUrlQueries', () => {
  it('removes the query of absolute URLs and signed relative ones, keeping the path', () => {
    const line = JSON.stringify({
      error: 'aborted http://127.0.0.1:8080/blobs/sha256/abc?size=3&expires=9&sig=SECRET1 while writing',
      path: '/blobs/sha256/abc?size=3&expires=9&sig=SECRET2',
      s3: 'https://b.s3.amazonaws.com/k?X-Amz-Credential=AK&X-Amz-Signature=SECRET3',
    });
    const out = redactUrlQueries(line);
    expect(out).not.toMatch(/SECRET|sig=|X-Amz/);
    expect(out).toContain('http://127.0.0.1:8080/blobs/sha256/abc?<redacted>');
    expect(out).toContain('/blobs/sha256/abc?<redacted>');
    expect(JSON.parse(out).path).toBe('/blobs/sha256/abc?<redacted>');
  });
});

describe('the sender of a field report', () => {
  const eventWith = (userArn?: string) =>
    ({
      requestContext: userArn === undefined ? {} : { authorizer: { iam: { userArn } } },
    }) as unknown as APIGatewayProxyEventV2;

  it('is the IAM principal on AWS, a fleet for node tokens, trusted only on an open server', () => {
    const arn = 'arn:aws:sts::123456789012:assumed-role/Fleet/i-0abc';
    expect(reportSenderOf(eventWith(arn))).toEqual({ principal: arn, fleet: false });
    expect(reportSenderOf(eventWith('modelgate:node:0123456789ab'))).toEqual({
      principal: 'modelgate:node:0123456789ab',
      fleet: true,
    });
    expect(reportSenderOf(eventWith(OPEN_PRINCIPAL))).toEqual(TRUSTED_MACHINE);
    expect(() => reportSenderOf(eventWith())).toThrow(/authenticated caller/);
  });

  it('comes from the token, which is required on loopback too once tokens are configured', () => {
    const node = 'bm9kZS10b2tlbi0wMDAwMDE=';
    const authorize = makeAuthorizer(
      parseLocalServerConfig({ MODELGATE_TOKENS: `node=${node},admin=YWRtaW4tdG9rZW4tMDAwMDAx` }),
    );
    const req = (token?: string) =>
      ({ headers: token ? { authorization: `Bearer ${token}` } : {} }) as unknown as IncomingMessage;
    const principal = authorize(req(node), 'reader');
    expect(principal?.role).toBe('node');
    expect(principal?.id).toMatch(/^modelgate:node:[0-9a-f]{12}$/);
    expect(principal?.id).not.toContain(node);
    expect(() => authorize(req(), 'reader')).toThrow(/bearer token is required/);
    expect(() => authorize(req(node), 'admin')).toThrow(/needs the admin role/);
  });
});
