import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { registrySettingsOf } from '../../core/registry-settings.js';
import { EcsJobEnv } from '../../gpu-validator/ecs-job.js';
import { AwsEnv } from '../../lambdas/aws/config.js';
import { AwsStorageEnv, LocalServerConfig, RegistryEnv } from '../../schemas/config.schema.js';

/**
 * One configuration vocabulary: the registry settings are one schema (schemas/config.schema.ts
 * `RegistryEnv`) that the local server, the Lambdas and the validator task each embed unchanged, and the
 * README's configuration table lists every variable of the local server with the schema's defaults.
 */

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const section = README.slice(README.indexOf('## Configuration'), README.indexOf('### Memory: profiled'));

/** The table rows: the variables of the first cell (split at ` / `) with the matching default cells. */
function tableRows(): { name: string; defaultCell: string }[] {
  const rows: { name: string; defaultCell: string }[] = [];
  for (const line of section.split('\n')) {
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
    if (cells.length < 4 || !cells[1]!.startsWith('`')) continue;
    const names = [...cells[1]!.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]!);
    const defaults = cells[2]!.split(' / ');
    names.forEach((name, i) => {
      rows.push({ name, defaultCell: (defaults.length === names.length ? defaults[i] : cells[2])!.trim() });
    });
  }
  return rows;
}

const defaultOf = (schema: z.ZodType): unknown => {
  const parsed = schema.safeParse(undefined);
  return parsed.success ? parsed.data : undefined;
};

describe('the configuration vocabulary', () => {
  it('is embedded unchanged by the local server, the Lambdas and the validator task', () => {
    for (const [name, schema] of Object.entries(RegistryEnv.shape)) {
      expect(LocalServerConfig.shape[name as keyof typeof LocalServerConfig.shape], name).toBe(schema);
      expect(AwsEnv.shape[name as keyof typeof AwsEnv.shape], name).toBe(schema);
    }
    for (const [name, schema] of Object.entries(AwsStorageEnv.shape)) {
      expect(AwsEnv.shape[name as keyof typeof AwsEnv.shape], name).toBe(schema);
      expect(EcsJobEnv.shape[name as keyof typeof EcsJobEnv.shape], name).toBe(schema);
    }
  });

  it('maps to the same registry settings wherever it is read', () => {
    const env = { MODELGATE_LEASE_MS: '1800000', MODELGATE_QUARANTINE_NODES: '5' };
    const aws = AwsEnv.parse({
      ...env,
      MODELGATE_TABLE_NAME: 'registry',
      MODELGATE_BUCKET_NAME: 'blobs',
      POWERTOOLS_SERVICE_NAME: 'x',
    });
    const local = LocalServerConfig.parse(env);
    expect(registrySettingsOf(aws)).toEqual(registrySettingsOf(local));
    expect(registrySettingsOf(RegistryEnv.parse(env))).toMatchObject({
      leaseMs: 1_800_000,
      operations: { quarantineNodes: 5 },
      defaultMemoryBudgetBytes: 4 * 1024 ** 3,
    });
  });

  it('has a README row for every variable of the local server, and no row for an unknown one', () => {
    const documented = new Set(tableRows().map((r) => r.name));
    const known = Object.keys(LocalServerConfig.shape);
    expect(known.filter((name) => !documented.has(name))).toEqual([]);
    expect([...documented].filter((name) => !known.includes(name))).toEqual([]);
  });

  it('names every shared setting in the README, and only those, as the shared vocabulary', () => {
    const paragraph = section.slice(
      section.indexOf('The registry settings are one vocabulary'),
      section.indexOf('| variable |'),
    );
    const named = new Set([...paragraph.matchAll(/`(MODELGATE_[A-Z0-9_]+)`/g)].map((m) => m[1]!));
    expect(named).toEqual(new Set([...Object.keys(RegistryEnv.shape), ...Object.keys(AwsStorageEnv.shape)]));
  });

  it('gives in the README each numeric default the schema has', () => {
    let compared = 0;
    for (const { name, defaultCell } of tableRows()) {
      const number = /^(\d+)( \(.*\))?$/.exec(defaultCell);
      if (!number) continue;
      const schema = LocalServerConfig.shape[name as keyof typeof LocalServerConfig.shape] as z.ZodType;
      expect(defaultOf(schema), name).toBe(Number(number[1]));
      compared++;
    }
    expect(compared).toBeGreaterThan(10);
  });
});
