import { describe, expect, it } from 'vitest';
import { defaultSettings } from '../../core/ports.js';
import { AwsConfigError, loadAwsConfig } from '../../lambdas/aws/config.js';

/** lambdas/aws/config.ts: the one schema every Lambda parses its environment with at cold start. */
const base = {
  MODELGATE_TABLE_NAME: 'Modelgate-Stateful-RegistryTable-1ABC',
  MODELGATE_BUCKET_NAME: 'modelgate-blobs-1a2b',
  POWERTOOLS_SERVICE_NAME: 'modelgate-models',
};

const errorOf = (f: () => unknown): AwsConfigError => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(AwsConfigError);
    return e as AwsConfigError;
  }
  throw new Error('expected an AwsConfigError');
};

describe('loadAwsConfig', () => {
  it('parses a minimal environment and fills in the defaults', () => {
    const c = loadAwsConfig(base);
    expect(c).toMatchObject({
      ...base,
      MODELGATE_URL_TTL_SECONDS: 3600,
      MODELGATE_LEASE_MS: defaultSettings.leaseMs,
      MODELGATE_MAX_ATTEMPTS: defaultSettings.maxValidationAttempts,
      MODELGATE_METRICS_NAMESPACE: 'ocr',
      MODELGATE_NODE_CLASSES: [],
    });
    expect(c.MODELGATE_STATE_MACHINE_ARN).toBeUndefined();
  });

  it('coerces numbers and parses node classes from JSON', () => {
    const c = loadAwsConfig({
      ...base,
      MODELGATE_URL_TTL_SECONDS: '900',
      MODELGATE_VALIDATOR_DISK_BYTES: '1000',
      MODELGATE_NODE_CLASSES: JSON.stringify([{ name: 'cpu-16g', memoryBytes: 16 * 1024 ** 3 }]),
    });
    expect(c.MODELGATE_URL_TTL_SECONDS).toBe(900);
    expect(c.MODELGATE_VALIDATOR_DISK_BYTES).toBe(1000);
    expect(c.MODELGATE_NODE_CLASSES).toEqual([
      { name: 'cpu-16g', memoryBytes: 16 * 1024 ** 3, executionProviders: ['cpu'] },
    ]);
  });

  it.each(['MODELGATE_TABLE_NAME', 'MODELGATE_BUCKET_NAME', 'POWERTOOLS_SERVICE_NAME'] as const)(
    'names a missing %s',
    (variable) => {
      const env: Record<string, string | undefined> = { ...base, [variable]: undefined };
      const e = errorOf(() => loadAwsConfig(env));
      expect(e.variables).toEqual([variable]);
      expect(e.message).toContain(`${variable} is not set`);
    },
  );

  it('names every invalid variable with what was wrong and what it got', () => {
    const e = errorOf(() =>
      loadAwsConfig({
        ...base,
        MODELGATE_URL_TTL_SECONDS: 'soon',
        MODELGATE_BUCKET_NAME: 'Not_A_Bucket',
        MODELGATE_NODE_CLASSES: '{oops',
      }),
    );
    expect([...e.variables].sort()).toEqual([
      'MODELGATE_BUCKET_NAME',
      'MODELGATE_NODE_CLASSES',
      'MODELGATE_URL_TTL_SECONDS',
    ]);
    expect(e.message).toContain('"soon"');
    expect(e.message).toContain('must be an S3 bucket name');
  });

  it('refuses a URL lifetime S3 would not sign (over 7 days)', () => {
    expect(
      errorOf(() => loadAwsConfig({ ...base, MODELGATE_URL_TTL_SECONDS: String(8 * 24 * 3600) })).variables,
    ).toEqual(['MODELGATE_URL_TTL_SECONDS']);
  });

  it('demands the optional variables a function declares it needs', () => {
    const e = errorOf(() =>
      loadAwsConfig(base, ['MODELGATE_STATE_MACHINE_ARN', 'MODELGATE_VALIDATOR_MEMORY_BYTES']),
    );
    expect(e.variables).toEqual(['MODELGATE_STATE_MACHINE_ARN', 'MODELGATE_VALIDATOR_MEMORY_BYTES']);
    const arn = 'arn:aws:states:eu-west-1:123456789012:stateMachine:PipelineStateMachine-AbC_123';
    expect(
      loadAwsConfig({ ...base, MODELGATE_STATE_MACHINE_ARN: arn }, ['MODELGATE_STATE_MACHINE_ARN'])
        .MODELGATE_STATE_MACHINE_ARN,
    ).toBe(arn);
  });

  it('refuses a state machine ARN that is not one', () => {
    expect(
      errorOf(() =>
        loadAwsConfig({
          ...base,
          MODELGATE_STATE_MACHINE_ARN: 'arn:aws:lambda:eu-west-1:123456789012:function:x',
        }),
      ).variables,
    ).toEqual(['MODELGATE_STATE_MACHINE_ARN']);
  });
});
