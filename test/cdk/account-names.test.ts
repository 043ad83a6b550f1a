import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { addModelgateStacks, createApp, type ModelgateStacks } from '../../cdk/modelgate-app.js';
import { cfnLint, cfnLintMissing } from '../helpers/cfn-lint.js';

/**
 * Two copies of the app in one account (`-c stackPrefix=Staging` beside the default) must not collide:
 * stack names differ, and so does every name CloudFormation does not generate. The second copy also
 * turns on the Spot compute environment, which must sit behind the on-demand one.
 */

type Json = Record<string, unknown>;
/** `*Name` properties that are not physical names of the resource (or are unique only within it). */
const NOT_PHYSICAL = new Set([
  'MetricName',
  'DisplayName',
  'StageName',
  'IndexName',
  'AttributeName',
  'DeviceName',
]);
const INLINE = new Set(['AWS::IAM::Policy PolicyName', 'AWS::ApiGatewayV2::Api Name']);

const dirs: string[] = [];
let copies: { stacks: ModelgateStacks; names: Set<string>; outdir: string }[];

function synth(context: Record<string, unknown>) {
  const outdir = mkdtempSync(join(tmpdir(), 'modelgate-cdk-copies-'));
  dirs.push(outdir);
  const app = createApp({
    outdir,
    context: { validatorImage: 'ecr', validatorImageTag: 'test', 'aws:cdk:bundling-stacks': [], ...context },
  });
  const stacks = addModelgateStacks(app);
  app.synth();
  const names = new Set<string>();
  for (const stack of Object.values(stacks)) {
    names.add(`stack ${stack.stackName}`);
    const resources = (Template.fromStack(stack).toJSON() as { Resources: Record<string, Json> }).Resources;
    // A literal: a reference names another resource, whose own name is checked where it is defined.
    for (const r of Object.values(resources))
      for (const [key, value] of Object.entries((r.Properties as Json | undefined) ?? {}))
        if (
          key.endsWith('Name') &&
          typeof value === 'string' &&
          !NOT_PHYSICAL.has(key) &&
          !INLINE.has(`${r.Type} ${key}`)
        )
          names.add(`${r.Type} ${key} ${JSON.stringify(value)}`);
  }
  return { stacks, names, outdir };
}

beforeAll(() => {
  copies = [synth({}), synth({ stackPrefix: 'Staging', gpuSpot: 'true' })];
}, 180_000);
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

it('prefixes every account-wide name, so that two copies synthesize without a collision', () => {
  const [first, second] = copies as [(typeof copies)[0], (typeof copies)[0]];
  expect([...first.names].filter((n) => second.names.has(n))).toEqual([]);
  expect([...second.names].sort()).toEqual(
    expect.arrayContaining([
      'AWS::IAM::ManagedPolicy ManagedPolicyName "Staging-ModelReader"',
      'AWS::IAM::ManagedPolicy ManagedPolicyName "Staging-ModelPublisher"',
      'AWS::IAM::ManagedPolicy ManagedPolicyName "Staging-RegistryAdmin"',
      'AWS::CloudWatch::Dashboard DashboardName "Staging-CAD-ML-Platform-Observability"',
      'stack Staging-Validation',
    ]),
  );
});

it('puts the optional Spot compute environment behind the on-demand one', () => {
  const validation = Template.fromStack(copies[1]!.stacks.validation);
  const envs = Object.entries(validation.findResources('AWS::Batch::ComputeEnvironment'));
  expect(envs).toHaveLength(2);
  const spot = envs.find(([, r]) => (r.Properties.ComputeResources as Json).Type === 'SPOT');
  const onDemand = envs.find(([, r]) => (r.Properties.ComputeResources as Json).Type === 'EC2');
  expect(spot).toBeDefined();
  expect(onDemand).toBeDefined();
  const [queue] = Object.values(validation.findResources('AWS::Batch::JobQueue'));
  expect(queue!.Properties.ComputeEnvironmentOrder).toEqual([
    { ComputeEnvironment: { 'Fn::GetAtt': [onDemand![0], 'ComputeEnvironmentArn'] }, Order: 1 },
    { ComputeEnvironment: { 'Fn::GetAtt': [spot![0], 'ComputeEnvironmentArn'] }, Order: 2 },
  ]);
});

it.skipIf(cfnLintMissing !== undefined)(
  `keeps the second copy (with Spot) cfn-lint clean${cfnLintMissing ? ` (skipped: ${cfnLintMissing})` : ''}`,
  () => {
    const { templates, unexpected } = cfnLint(copies[1]!.outdir);
    expect(templates.map((t) => t.split('/').at(-1))).toContain('Staging-Validation.template.json');
    expect(unexpected).toEqual([]);
  },
  120_000,
);
