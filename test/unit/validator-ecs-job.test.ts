import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createModel } from '../../core/models.js';
import { commitVersion, startVersion } from '../../core/publish.js';
import { reserveForQueue } from '../../core/validation-jobs.js';
import { EcsEnvError, heartbeatMsOf, readEcsJobEnv, runEcsJob } from '../../gpu-validator/ecs-job.js';
import { StartVersionRequest } from '../../schemas/version.schema.js';
import { buildMlpModel, buildUnknownOpModel } from '../fixtures/onnx-writer.js';
import { manifestEntry } from '../fixtures/version-files.js';
import { localTestDeps, type TestDeps } from '../helpers/local-deps.js';

/** The Batch job's logic over real SQLite and a real blob folder, with real models and a real loader child. */

const EXECUTION = 'arn:aws:states:eu-west-1:123456789012:execution:validate:run-1';
const baseEnv = {
  MODELGATE_TABLE_NAME: 'registry',
  MODELGATE_BUCKET_NAME: 'blobs',
  MODELGATE_EXECUTION_PROVIDERS: 'cpu',
};

let deps: TestDeps;
beforeEach(async () => {
  deps = await localTestDeps();
  await createModel(deps, { name: 'det', provider: 'ocr', description: '', tags: [] });
});
afterEach(() => deps.cleanup());

/** Publishes one ONNX file as `det@VERSION` and reserves it for a queued job as the state machine's pre-check does. */
async function claimedVersion(version: string, bytes: Buffer, owner = EXECUTION) {
  const entry = manifestEntry('model.onnx', bytes, 'onnx');
  await startVersion(deps, 'det', StartVersionRequest.parse({ version, files: [entry] }));
  await deps.blobs.write(
    entry.sha256,
    entry.size,
    (async function* () {
      yield bytes;
    })(),
  );
  const committed = await commitVersion(deps, { model: 'det', version });
  await reserveForQueue(deps, committed, owner, 24 * 3600_000);
}

const env = (version: string, extra: Record<string, string> = {}) =>
  readEcsJobEnv({
    ...baseEnv,
    MODELGATE_MODEL: 'det',
    MODELGATE_VERSION: version,
    MODELGATE_LEASE_OWNER: EXECUTION,
    ...extra,
  });

describe('readEcsJobEnv', () => {
  it('names every missing variable', () => {
    try {
      readEcsJobEnv({ MODEL: 'det', MODELGATE_BUCKET_NAME: 'blobs' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(EcsEnvError);
      expect((e as EcsEnvError).variables).toEqual(['VERSION', 'LEASE_OWNER', 'MODELGATE_TABLE_NAME']);
      expect((e as Error).message).toContain('LEASE_OWNER');
    }
  });

  it('takes the CDK names or the short ones, arguments over both, and a provider list', () => {
    const parsed = readEcsJobEnv(
      {
        ...baseEnv,
        MODEL: 'det',
        MODELGATE_VERSION: '1',
        LEASE_OWNER: 'x',
        MODELGATE_EXECUTION_PROVIDERS: 'cuda, cpu',
      },
      ['--version', '2'],
    );
    expect(parsed).toMatchObject({
      MODEL: 'det',
      VERSION: '2',
      LEASE_OWNER: 'x',
      MODELGATE_EXECUTION_PROVIDERS: ['cuda', 'cpu'],
    });
    expect(
      readEcsJobEnv({
        ...baseEnv,
        MODEL: 'd',
        VERSION: '1',
        LEASE_OWNER: 'x',
        MODELGATE_EXECUTION_PROVIDERS: undefined,
      }).MODELGATE_EXECUTION_PROVIDERS,
    ).toEqual(['cuda', 'cpu']);
  });
});

describe('runEcsJob', () => {
  it('validates the claimed version and records a passed report as the lease owner', async () => {
    await claimedVersion('1', buildMlpModel({ layers: 1, dim: 16 }));
    const outcome = await runEcsJob(deps, env('1'));
    expect(outcome.status).toBe('recorded');
    const stored = await deps.metadata.getVersion({ model: 'det', version: '1' });
    expect(stored?.status).toBe('VERIFIED');
    expect(stored?.report).toMatchObject({ outcome: 'passed', worker: EXECUTION, executionProvider: 'cpu' });
    expect(stored?.report?.files[0]?.peakRssBytes).toBeGreaterThan(0);
    expect(
      (await deps.metadata.listReports({ model: 'det', version: '1' }, { limit: 5 })).items,
    ).toHaveLength(1);
  });

  it('records a model that fails validation and returns normally (the task exits 0)', async () => {
    await claimedVersion('1', buildUnknownOpModel());
    const outcome = await runEcsJob(deps, env('1'));
    expect(outcome.status).toBe('recorded');
    const stored = await deps.metadata.getVersion({ model: 'det', version: '1' });
    expect(stored).toMatchObject({ status: 'FAILED', statusReason: { code: 'UNSUPPORTED_MODEL' } });
  });

  it('records GPU_UNAVAILABLE when cuda is requested where it is absent', async () => {
    await claimedVersion('1', buildMlpModel({ layers: 1, dim: 16 }));
    await runEcsJob(deps, env('1', { MODELGATE_EXECUTION_PROVIDERS: 'cuda,cpu' }));
    const stored = await deps.metadata.getVersion({ model: 'det', version: '1' });
    expect(stored?.statusReason?.code).toBe('GPU_UNAVAILABLE');
  });

  it('does nothing for a version reserved by another execution', async () => {
    await claimedVersion('1', buildMlpModel({ layers: 1, dim: 16 }), 'another-execution');
    const outcome = await runEcsJob(deps, env('1'));
    expect(outcome).toMatchObject({ status: 'skipped' });
    expect(await deps.metadata.getVersion({ model: 'det', version: '1' })).toMatchObject({
      status: 'UPLOADED',
      validation: { attempts: 0, leaseOwner: 'another-execution' },
    });
  });

  it('takes the lease when it starts, not when it was queued, and heartbeats it at MODELGATE_HEARTBEAT_MS', async () => {
    await claimedVersion('1', buildMlpModel({ layers: 1, dim: 16 }));
    const queued = await deps.metadata.getVersion({ model: 'det', version: '1' });
    expect(queued?.validation.leaseExpiresAt).toBeUndefined();
    const beats: string[] = [];
    const metadata = Object.assign(Object.create(deps.metadata) as typeof deps.metadata, {
      updateVersion: (...args: Parameters<typeof deps.metadata.updateVersion>) => {
        if (args[1].status.length === 1 && args[1].status[0] === 'VALIDATING' && args[2].status === undefined)
          beats.push(String(args[2].validation?.leaseExpiresAt));
        return deps.metadata.updateVersion(...args);
      },
    });
    const slow = Object.assign(Object.create(deps.blobs) as typeof deps.blobs, {
      materialize: async (...args: Parameters<typeof deps.blobs.materialize>) => {
        await new Promise((r) => setTimeout(r, 700));
        return deps.blobs.materialize(...args);
      },
    });
    const outcome = await runEcsJob(
      { ...deps, metadata, blobs: slow },
      env('1', { MODELGATE_HEARTBEAT_MS: '250' }),
    );
    expect(outcome.status).toBe('recorded');
    expect(beats.length).toBeGreaterThanOrEqual(2);
    expect((await deps.metadata.getVersion({ model: 'det', version: '1' }))?.validation.attempts).toBe(1);
  });

  it('throws on an infrastructure failure (the task exits non-zero), recording nothing', async () => {
    await claimedVersion('1', buildMlpModel({ layers: 1, dim: 16 }));
    const blobs = Object.assign(Object.create(deps.blobs) as typeof deps.blobs, {
      materialize: () => Promise.reject(new Error('connection reset by S3')),
    });
    const broken = { ...deps, blobs };
    await expect(runEcsJob(broken, env('1'))).rejects.toThrow('connection reset by S3');
    expect((await deps.metadata.getVersion({ model: 'det', version: '1' }))?.status).toBe('VALIDATING');
  });

  it('refuses a heartbeat interval over half the lease as a configuration error (exit 2, not retried)', () => {
    expect(heartbeatMsOf(undefined, 30_000)).toBe(10_000);
    expect(heartbeatMsOf(60_000, 600_000)).toBe(60_000);
    expect(() => heartbeatMsOf(20_000, 30_000)).toThrow(EcsEnvError);
    expect(() => heartbeatMsOf(20_000, 30_000)).toThrow('MODELGATE_HEARTBEAT_MS: 20000 is over half');
  });
});
