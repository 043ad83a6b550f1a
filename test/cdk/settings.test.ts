import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { accountWideNamePrefix, DEFAULT_SETTINGS, readSettings } from '../../cdk/settings.js';
import { CdkContext } from '../../schemas/config.schema.js';

/** cdk/settings.ts: CDK context parsed once with schemas/config.schema.ts `CdkContext`, no synth needed. */
const settingsOf = (context: Record<string, unknown>) => readSettings(new App({ context }));

describe('readSettings', () => {
  it('gives every knob its documented default with no context', () => {
    expect(settingsOf({})).toEqual(DEFAULT_SETTINGS);
    expect(DEFAULT_SETTINGS).toMatchObject({
      stackPrefix: 'Modelgate',
      gpuInstanceTypes: ['g6.xlarge', 'g5.xlarge', 'g4dn.xlarge'],
      gpuMaxVcpus: 16,
      gpuSpot: false,
      validationJobAttempts: 3,
      validatorMemoryMiB: 14 * 1024,
      validatorImage: 'asset',
      logRetentionDays: 90,
      nodeClasses: [],
    });
    expect(DEFAULT_SETTINGS.alarmEmail).toBeUndefined();
    expect(DEFAULT_SETTINGS.policyNamePrefix).toBeUndefined();
    expect(accountWideNamePrefix(DEFAULT_SETTINGS)).toBe('Modelgate-');
    expect(accountWideNamePrefix(settingsOf({ stackPrefix: 'Staging' }))).toBe('Staging-');
    expect(accountWideNamePrefix(settingsOf({ stackPrefix: 'Staging', policyNamePrefix: '' }))).toBe('');
  });

  it('takes GPU instance types as a comma list or an array, and refuses types without a GPU', () => {
    expect(settingsOf({ gpuInstanceTypes: 'g6.2xlarge, g5.2xlarge' }).gpuInstanceTypes).toEqual([
      'g6.2xlarge',
      'g5.2xlarge',
    ]);
    expect(settingsOf({ gpuInstanceTypes: ['p4d.24xlarge'] }).gpuInstanceTypes).toEqual(['p4d.24xlarge']);
    expect(() => settingsOf({ gpuInstanceTypes: 'm5.xlarge' })).toThrow('must be a GPU instance type');
    expect(() => settingsOf({ gpuInstanceTypes: '' })).toThrow('name at least one instance type');
    expect(settingsOf({ gpuSpot: 'true' }).gpuSpot).toBe(true);
    expect(() => settingsOf({ gpuSpot: 'yes' })).toThrow('context gpuSpot="yes"');
  });

  it('coerces `-c key=value` strings and parses node classes given as JSON text', () => {
    const s = settingsOf({
      gpuMaxVcpus: '8',
      alarmEmail: '',
      nodeClasses: JSON.stringify([{ name: 'cpu-16g', memoryBytes: 16 * 1024 ** 3 }]),
    });
    expect(s.gpuMaxVcpus).toBe(8);
    expect(s.alarmEmail).toBeUndefined();
    expect(s.nodeClasses).toEqual([
      { name: 'cpu-16g', memoryBytes: 16 * 1024 ** 3, executionProviders: ['cpu'] },
    ]);
  });

  it('fails naming the key, its value and the rule', () => {
    expect(() => settingsOf({ gpuMaxVcpus: 'lots' })).toThrow(/^context gpuMaxVcpus="lots": /);
    expect(() => settingsOf({ gpuDiskGiB: 10 })).toThrow(
      'context gpuDiskGiB=10: expected an integer in [30, 16384]',
    );
    expect(() => settingsOf({ validatorImage: 'docker' })).toThrow('context validatorImage="docker"');
    expect(() => settingsOf({ validatorImage: 'ecr' })).toThrow(
      'context validatorImageTag=undefined: is required with validatorImage=ecr',
    );
    expect(settingsOf({ validatorImage: 'ecr', validatorImageTag: 'c'.repeat(40) }).validatorImageTag).toBe(
      'c'.repeat(40),
    );
    expect(() => settingsOf({ logRetentionDays: 2 })).toThrow('CloudWatch accepts 1, 3, 5');
    expect(() => settingsOf({ nodeClasses: '{oops' })).toThrow('context nodeClasses=');
  });

  it('refuses knobs that contradict each other', () => {
    expect(() => settingsOf({ validatorVcpus: 8, gpuMaxVcpus: 4 })).toThrow('exceeds gpuMaxVcpus (4)');
    expect(() => settingsOf({ validationLeaseSeconds: 100, validationHeartbeatSeconds: 60 })).toThrow(
      'over half of validationLeaseSeconds (100)',
    );
    expect(() => settingsOf({ gpuDiskGiB: 40, gpuDiskReservedGiB: 40 })).toThrow('leaves no scratch space');
    expect(() => settingsOf({ validatorMemoryMiB: 2048, validatorOverheadMiB: 2048 })).toThrow(
      'leaves no memory for the model',
    );
  });
});

describe("cdk/README.md's context list", () => {
  it('names every context key, with the default the schema has', () => {
    const readme = readFileSync(new URL('../../cdk/README.md', import.meta.url), 'utf8');
    const listed = new Map(
      [...readme.matchAll(/`([a-zA-Z]+)`(?: \(([^)]*)\))?/g)].map((m) => [m[1]!, m[2]] as const),
    );
    let compared = 0;
    for (const key of Object.keys(CdkContext.shape) as (keyof typeof DEFAULT_SETTINGS)[]) {
      expect(listed.has(key), key).toBe(true);
      const shown = /^(\d+)/.exec(listed.get(key) ?? '')?.[1];
      if (shown === undefined) continue;
      expect(DEFAULT_SETTINGS[key], key).toBe(Number(shown));
      compared++;
    }
    expect(compared).toBeGreaterThan(8);
  });
});
