import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobKeys } from '../../adapters/s3/s3-key-layout.js';
import {
  DASHBOARD_NAME,
  DASHBOARD_TITLE,
  PROVIDER_HEALTH_PANEL,
} from '../../cdk/constructs/observability.js';
import { BATCH_API_ERRORS } from '../../cdk/constructs/validation-pipeline.js';
import { ROLE_POLICY_NAMES } from '../../cdk/execute-api.js';
import {
  addModelgateStacks,
  cdkJsonContext,
  createApp,
  type ModelgateStacks,
} from '../../cdk/modelgate-app.js';
import { GROUP_ACCESS } from '../../lambdas/aws/group-access.js';
import { ROUTE_GROUPS, ROUTES, type Route, routeKey } from '../../lambdas/routes.js';
import { cfnLint, cfnLintMissing } from '../helpers/cfn-lint.js';

/**
 * The whole CDK app, synthesized ONCE (with real esbuild bundling and the cdk-nag AwsSolutions pack)
 * and shared by every assertion below: a synth costs seconds and hundreds of MB.
 * The validator image comes from ECR here so the template does not depend on gpu-validator/Dockerfile;
 * validator-image.test.ts covers the asset path.
 */

type Json = Record<string, unknown>;
type Resource = { Type: string; Properties: Json };

let outdir: string;
let stacks: ModelgateStacks;
let synthError: unknown;
const templates: Record<keyof ModelgateStacks, Template> = {} as never;

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'modelgate-cdk-'));
  const app = createApp({ outdir, context: { validatorImage: 'ecr', validatorImageTag: 'test' } });
  stacks = addModelgateStacks(app);
  try {
    // In-memory synth throws when a validation plugin (cdk-nag) reports an unacknowledged error.
    app.synth();
  } catch (e) {
    synthError = e;
    return;
  }
  for (const key of Object.keys(stacks) as (keyof ModelgateStacks)[])
    templates[key] = Template.fromStack(stacks[key]);
}, 180_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

const resourcesOf = (t: Template, type: string): [string, Resource][] =>
  Object.entries(t.findResources(type) as Record<string, Resource>);

/** Every IAM statement of every policy-bearing resource of every stack. */
function allStatements(): { stack: string; logicalId: string; statement: Json }[] {
  const out: { stack: string; logicalId: string; statement: Json }[] = [];
  for (const [stack, t] of Object.entries(templates)) {
    for (const type of ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy']) {
      for (const [id, r] of resourcesOf(t, type)) {
        for (const s of (r.Properties.PolicyDocument as { Statement: Json[] }).Statement) {
          out.push({ stack, logicalId: id, statement: s });
        }
      }
    }
  }
  return out;
}

const list = <T>(x: T | T[] | undefined): T[] => (x === undefined ? [] : Array.isArray(x) ? x : [x]);

/** Statements of the role of the API function of `group` (logical ids are derived from the construct path). */
function groupStatements(group: string): Json[] {
  const name = `${group.charAt(0).toUpperCase()}${group.slice(1)}Routes`;
  const policies = resourcesOf(templates.api, 'AWS::IAM::Policy').filter(([id]) =>
    id.startsWith(`RegistryApi${name}Role`),
  );
  expect(policies, `policy of ${group}`).toHaveLength(1);
  return (policies[0]![1].Properties.PolicyDocument as { Statement: Json[] }).Statement;
}
const actionsOf = (statements: Json[]): string[] =>
  statements.flatMap((s) => list(s.Action as string | string[]));

/** Statements of the validator job's role (the Batch job's task role). */
function validatorJobStatements(): Json[] {
  const policies = resourcesOf(templates.validation, 'AWS::IAM::Policy').filter(([id]) =>
    id.includes('ValidatorJobRole'),
  );
  expect(policies, 'policy of the validator job role').toHaveLength(1);
  return (policies[0]![1].Properties.PolicyDocument as { Statement: Json[] }).Statement;
}

/**
 * A resource as text: the parts of an Fn::Join, with a reference written `<blobs>` when it is the blob
 * bucket's ARN (imported across stacks, or read in its own) and `<other>` for anything else.
 */
function resourceText(resource: unknown): string {
  const ref = (part: unknown) => (JSON.stringify(part).includes('BlobStoreBlobs') ? '<blobs>' : '<other>');
  if (typeof resource === 'string') return resource;
  const join = (resource as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (!join) return ref(resource);
  return join[1].map((part) => (typeof part === 'string' ? part : ref(part))).join(join[0]);
}

/** IAM's wildcards: `*` any run of characters, `?` any one. */
const iamMatches = (pattern: string, value: string): boolean =>
  new RegExp(
    `^${pattern
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/]/g, '\\$&')))
      .join('')}$`,
    'i',
  ).test(value);

/**
 * Whether an Allow statement among `statements` grants `action` (IAM wildcards in the statement count) on
 * `resource`: `<blobs>` for the blob bucket itself, `<blobs>/KEY` for one of its objects.
 */
const allows = (statements: Json[], action: string, resource: string): boolean =>
  statements.some(
    (s) =>
      s.Effect === 'Allow' &&
      list(s.Action as string | string[]).some((a) => iamMatches(a, action)) &&
      list(s.Resource).some((r) => iamMatches(resourceText(r), resource)),
  );

describe('synthesis and cdk-nag', () => {
  it('synthesizes with no unacknowledged cdk-nag (AwsSolutions) error', () => {
    expect(synthError === undefined ? undefined : String(synthError)).toBeUndefined();
  });

  it('writes a validation report with no violation left, error or warning', () => {
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { pluginName: string; violations: { ruleName: string; severity: string }[] }[];
    };
    const open = report.pluginReports.flatMap((p) =>
      p.violations.map((v) => `${p.pluginName}: ${v.severity} ${v.ruleName}`),
    );
    expect(open).toEqual([]);
  });

  it('is environment-agnostic: no stack names an account or a region', () => {
    for (const stack of Object.values(stacks)) {
      expect(stack.account).toMatch(/^\$\{Token/);
      expect(stack.region).toMatch(/^\$\{Token/);
    }
  });

  it('applies the feature flags of cdk.json, which the CLI and this test share', () => {
    const flags = cdkJsonContext();
    expect(flags['@aws-cdk/aws-autoscaling:generateLaunchTemplateInsteadOfLaunchConfig']).toBe(true);
    expect(
      stacks.api.node.tryGetContext('@aws-cdk/aws-autoscaling:generateLaunchTemplateInsteadOfLaunchConfig'),
    ).toBe(true);
    templates.validation.resourceCountIs('AWS::AutoScaling::LaunchConfiguration', 0);
  });

  it('bundles every Lambda with the local esbuild into an ESM file that loads and exports handler', () => {
    const env = {
      ...process.env,
      MODELGATE_TABLE_NAME: 'registry-table',
      MODELGATE_BUCKET_NAME: 'registry-bucket',
      POWERTOOLS_SERVICE_NAME: 'test',
      MODELGATE_STATE_MACHINE_ARN: 'arn:aws:states:eu-west-1:123456789012:stateMachine:validation',
      MODELGATE_VALIDATOR_DISK_BYTES: '1000',
      MODELGATE_VALIDATOR_MEMORY_BYTES: '1000',
      MODELGATE_QUEUE_HOLD_MS: '3600000',
      AWS_REGION: 'eu-west-1',
    };
    // Ours, not CDK's own custom-resource handlers: they are the ones configured by lambdas/aws/config.ts.
    const functions = [
      ...resourcesOf(templates.api, 'AWS::Lambda::Function'),
      ...resourcesOf(templates.validation, 'AWS::Lambda::Function'),
    ].filter(([, r]) => JSON.stringify(r.Properties.Environment ?? {}).includes('POWERTOOLS_SERVICE_NAME'));
    const groupsWithRoutes = ROUTE_GROUPS.filter((g) => ROUTES.some((r) => r.group === g));
    // One per route group, plus the pipeline's precheck, finalize and sweeper.
    expect(functions).toHaveLength(groupsWithRoutes.length + 3);
    // The code's S3 key is `<asset hash>.zip`; the bundle was staged at `asset.<asset hash>/`.
    const assets = new Set(
      functions.map(([, r]) => `asset.${String((r.Properties.Code as Json).S3Key).replace(/\.zip$/, '')}`),
    );
    expect(assets.size).toBe(functions.length);
    for (const asset of assets) {
      const file = join(outdir, asset, 'index.mjs');
      expect(existsSync(file), file).toBe(true);
      const out = execFileSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const m = await import(${JSON.stringify(file)}); console.log(typeof m.handler);`,
        ],
        { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
      );
      expect(out.trim().split('\n').at(-1)).toBe('function');
    }
  }, 60_000);
});

describe('stateful: registry table', () => {
  it('has the adapter keys, the GSI, on-demand billing, PITR, deletion protection, encryption and RETAIN', () => {
    templates.stateful.hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        BillingMode: 'PAY_PER_REQUEST',
        GlobalSecondaryIndexes: [
          Match.objectLike({
            IndexName: 'gsi1',
            KeySchema: [
              { AttributeName: 'gsi1pk', KeyType: 'HASH' },
              { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          }),
          Match.objectLike({
            IndexName: 'gsi2',
            KeySchema: [
              { AttributeName: 'gsi2pk', KeyType: 'HASH' },
              { AttributeName: 'gsi2sk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          }),
        ],
        SSESpecification: Match.objectLike({ SSEEnabled: true, SSEType: 'KMS' }),
        Replicas: [
          Match.objectLike({
            DeletionProtectionEnabled: true,
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          }),
        ],
      }),
    });
  });

  it('is termination-protected', () => {
    expect(stacks.stateful.terminationProtection).toBe(true);
  });
});

describe('stateful: blob bucket', () => {
  const blobBucket = (): Resource => {
    const buckets = resourcesOf(templates.stateful, 'AWS::S3::Bucket').filter(([id]) =>
      id.startsWith('BlobStoreBlobs'),
    );
    expect(buckets).toHaveLength(1);
    return buckets[0]![1];
  };

  it('is encrypted, versioned, blocks all public access, logs access, and is retained', () => {
    templates.stateful.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
        },
        VersioningConfiguration: { Status: 'Enabled' },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        LoggingConfiguration: Match.objectLike({ LogFilePrefix: 'blobs/' }),
      }),
    });
    expect(blobBucket().Properties.LoggingConfiguration).toBeDefined();
  });

  it('aborts incomplete multipart uploads', () => {
    const rules = (blobBucket().Properties.LifecycleConfiguration as { Rules: Json[] }).Rules;
    expect(rules).toContainEqual(
      expect.objectContaining({
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
        Status: 'Enabled',
      }),
    );
  });

  it('denies every request that is not TLS', () => {
    const policies = resourcesOf(templates.stateful, 'AWS::S3::BucketPolicy');
    const blobPolicy = policies.find(([, r]) =>
      JSON.stringify(r.Properties.Bucket).includes('BlobStoreBlobs'),
    );
    expect(blobPolicy).toBeDefined();
    expect((blobPolicy![1].Properties.PolicyDocument as { Statement: Json[] }).Statement).toContainEqual(
      expect.objectContaining({
        Effect: 'Deny',
        Action: 's3:*',
        Principal: { AWS: '*' },
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      }),
    );
  });
});

describe('API', () => {
  it('has exactly one route per entry of lambdas/routes.ts, each with AWS_IAM authorization', () => {
    const routes = resourcesOf(templates.api, 'AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties);
    expect(routes.map((r) => r.RouteKey).sort()).toEqual(ROUTES.map(routeKey).sort());
    for (const r of routes) expect(r.AuthorizationType, String(r.RouteKey)).toBe('AWS_IAM');
  });

  it('has one Node 22 function per route group that has routes', () => {
    const groupsWithRoutes = ROUTE_GROUPS.filter((g) => ROUTES.some((r) => r.group === g));
    const fns = resourcesOf(templates.api, 'AWS::Lambda::Function').map(([, r]) => r.Properties);
    expect(fns).toHaveLength(groupsWithRoutes.length);
    for (const fn of fns) {
      expect(fn.Runtime).toBe('nodejs22.x');
      expect(fn.TracingConfig).toEqual({ Mode: 'Active' });
    }
    expect([...stacks.api.registryApi.functions.keys()].sort()).toEqual([...groupsWithRoutes].sort());
  });

  it('logs access on the $default stage', () => {
    templates.api.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      AccessLogSettings: Match.objectLike({ DestinationArn: Match.anyValue() }),
    });
  });
});

describe('IAM: least privilege', () => {
  it('never allows Action "*", s3:* or dynamodb:* (outside Deny statements)', () => {
    for (const { stack, logicalId, statement } of allStatements()) {
      if (statement.Effect !== 'Allow') continue;
      for (const action of list(statement.Action as string | string[])) {
        expect(action, `${stack}/${logicalId}`).not.toBe('*');
        expect(action, `${stack}/${logicalId}`).not.toMatch(/^(s3|dynamodb):\*$/);
        expect(action, `${stack}/${logicalId}`).not.toMatch(/^(s3|dynamodb):.*\*/);
      }
    }
  });

  it('never grants a data action (s3/dynamodb) on resource "*"', () => {
    for (const { stack, logicalId, statement } of allStatements()) {
      const dataActions = list(statement.Action as string | string[]).filter((a) =>
        /^(s3|dynamodb):/.test(a),
      );
      if (statement.Effect !== 'Allow' || dataActions.length === 0) continue;
      expect(list(statement.Resource), `${stack}/${logicalId}`).not.toContain('*');
    }
  });

  it('gives each route group exactly the access GROUP_ACCESS declares', () => {
    const writes = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem'];
    for (const group of stacks.api.registryApi.functions.keys()) {
      const actions = actionsOf(groupStatements(group));
      const access = GROUP_ACCESS[group];
      expect(actions, group).toContain('dynamodb:GetItem');
      for (const w of writes) expect(actions.includes(w), `${group} ${w}`).toBe(access.table === 'readWrite');
      expect(actions.includes('s3:GetObject'), `${group} s3:GetObject`).toBe(access.readBlobs);
      expect(actions.includes('s3:PutObject'), `${group} s3:PutObject`).toBe(access.writeBlobs);
      expect(actions.includes('states:StartExecution'), `${group} StartExecution`).toBe(
        access.startsValidation,
      );
      expect(
        actions.some((a) => a.startsWith('s3:Delete')),
        `${group} delete`,
      ).toBe(false);
    }
  });

  it('lets each role reach exactly the S3 keys its store calls use (s3rver checks no IAM, S3 does)', () => {
    const keys = blobKeys('', 'ab'.repeat(32));
    const on = (key: string) => `<blobs>/${key}`;
    for (const group of stacks.api.registryApi.functions.keys()) {
      const statements = groupStatements(group);
      const { readBlobs, writeBlobs } = GROUP_ACCESS[group];
      // stat: HeadObject of the blob and GetObject of its corrupt mark (ListBucket, or S3 answers 403 for a
      // mark that does not exist); downloads sign GETs of the blob.
      expect(allows(statements, 's3:GetObject', on(keys.blob)), `${group} reads blobs`).toBe(readBlobs);
      expect(allows(statements, 's3:GetObject', on(keys.corruptMark)), `${group} reads marks`).toBe(
        readBlobs,
      );
      expect(allows(statements, 's3:ListBucket', '<blobs>'), `${group} lists`).toBe(readBlobs);
      expect(allows(statements, 's3:PutObject', on(keys.blob)), `${group} writes blobs`).toBe(writeBlobs);
      for (const action of ['s3:PutObject', 's3:GetObjectVersion'])
        expect(allows(statements, action, on(keys.corruptMark)), `${group} ${action} marks`).toBe(false);
      for (const action of ['s3:GetObject', 's3:PutObject'])
        expect(allows(statements, action, on(keys.proof)), `${group} ${action} proofs`).toBe(false);
      expect(allows(statements, 's3:GetObjectVersion', on(keys.blob)), `${group} versions`).toBe(false);
    }
    const job = validatorJobStatements();
    // materialize: HEAD, then GET of exactly that version; the proof and the mark; a proof for bytes it hashed.
    for (const action of ['s3:GetObject', 's3:GetObjectVersion'])
      expect(allows(job, action, on(keys.blob)), action).toBe(true);
    expect(allows(job, 's3:ListBucket', '<blobs>')).toBe(true);
    for (const key of [keys.corruptMark, keys.proof]) {
      expect(allows(job, 's3:GetObject', on(key)), key).toBe(true);
      expect(allows(job, 's3:PutObject', on(key)), key).toBe(true);
    }
    expect(allows(job, 's3:PutObject', on(keys.blob))).toBe(false);
    // Another bucket's objects are not this bucket's: the match is on the blob bucket's ARN.
    expect(allows(job, 's3:GetObject', `<other>/${keys.blob}`)).toBe(false);
  });

  it('keeps readers read-only: the downloads group cannot write the table or blobs', () => {
    expect(GROUP_ACCESS.downloads).toMatchObject({
      table: 'read',
      writeBlobs: false,
      startsValidation: false,
    });
    const dataActions = actionsOf(groupStatements('downloads')).filter((a) =>
      /^(dynamodb|s3|states):/.test(a),
    );
    expect(dataActions.sort()).toEqual([
      'dynamodb:GetItem',
      'dynamodb:Query',
      's3:GetObject',
      's3:ListBucket',
    ]);
  });
});

describe('IAM: the three managed policies', () => {
  /** The `<stage>/<METHOD>/<path>` part of each execute-api ARN of a policy. */
  function policyPatterns(name: string): string[] {
    const policies = resourcesOf(templates.api, 'AWS::IAM::ManagedPolicy').filter(
      ([, r]) => r.Properties.ManagedPolicyName === `Modelgate-${name}`,
    );
    expect(policies, name).toHaveLength(1);
    const statements = (policies[0]![1].Properties.PolicyDocument as { Statement: Json[] }).Statement;
    return statements.flatMap((s) => {
      expect(s.Effect).toBe('Allow');
      expect(s.Action).toBe('execute-api:Invoke');
      return list(s.Resource as Json | Json[]).map((arn) => {
        const parts = (arn as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1];
        const last = parts.at(-1);
        expect(typeof last).toBe('string');
        // The element before the suffix is the API id reference: the ARN is pinned to this API.
        expect(parts.at(-2)).toEqual({ Ref: expect.stringMatching(/^RegistryApi/) });
        return (last as string).replace(/^\//, '');
      });
    });
  }

  /** IAM's wildcard matching (`*` matches any run of characters, including `/`). */
  const iamMatches = (pattern: string, value: string): boolean =>
    new RegExp(
      `^${pattern
        .split('*')
        .map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'))
        .join('.*')}$`,
    ).test(value);

  /** A concrete request path of a route, with every parameter filled in. */
  const samplePath = (r: Route): string =>
    `$default/${r.method}${r.path.replace(/\{([^}]+)\}/g, 'sample-$1')}`;

  it('exist under the names users attach', () => {
    const names = resourcesOf(templates.api, 'AWS::IAM::ManagedPolicy').map(
      ([, r]) => r.Properties.ManagedPolicyName,
    );
    // Prefixed with the stack prefix: IAM names are account-wide (account-names.test.ts).
    expect(names.sort()).toEqual([
      'Modelgate-ModelPublisher',
      'Modelgate-ModelReader',
      'Modelgate-RegistryAdmin',
    ]);
  });

  it('each allow exactly the routes of their role, and no route of another role', () => {
    for (const [role, name] of Object.entries(ROLE_POLICY_NAMES) as [Route['role'], string][]) {
      const patterns = policyPatterns(name);
      expect(patterns).toHaveLength(ROUTES.filter((r) => r.role === role).length);
      for (const route of ROUTES) {
        const allowed = patterns.some((p) => iamMatches(p, samplePath(route)));
        expect(allowed, `${name} → ${routeKey(route)}`).toBe(route.role === role);
      }
    }
  });

  it('give readers status and fetch, publishers publish, admins aliases and re-validation', () => {
    const reader = policyPatterns('ModelReader');
    expect(reader).toContain('$default/GET/api/v1/models/*/download/*');
    expect(reader).toContain('$default/GET/api/v1/models/*/resolve/*');
    // Readers only read, except that serving nodes report their loads.
    expect(reader.filter((p) => !p.startsWith('$default/GET/'))).toEqual([
      '$default/POST/api/v1/models/*/versions/*/field-reports',
    ]);
    expect(policyPatterns('ModelPublisher')).toContain('$default/POST/api/v1/models/*/versions/*/commit');
    expect(policyPatterns('RegistryAdmin')).toEqual(
      expect.arrayContaining([
        '$default/PUT/api/v1/models/*/aliases/*',
        '$default/POST/api/v1/models/*/versions/*/validate',
      ]),
    );
  });
});

describe('validation pipeline', () => {
  const definition = (): string => {
    const [[, sm]] = resourcesOf(templates.validation, 'AWS::StepFunctions::StateMachine') as [
      [string, Resource],
    ];
    const def = sm.Properties.DefinitionString as { 'Fn::Join': [string, unknown[]] };
    // References sit inside JSON strings of the definition: a placeholder keeps it parseable.
    return def['Fn::Join'][1].map((p) => (typeof p === 'string' ? p : '<ref>')).join('');
  };

  it('sweeps stalled validations every five minutes with a function that may start executions', () => {
    templates.validation.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      Targets: Match.arrayWith([
        Match.objectLike({
          Arn: Match.objectLike({
            'Fn::GetAtt': Match.arrayWith([Match.stringLikeRegexp('SweeperFunction')]),
          }),
        }),
      ]),
    });
    const sweeperPolicies = resourcesOf(templates.validation, 'AWS::IAM::Policy').filter(([id]) =>
      id.includes('Sweeper'),
    );
    const actions = sweeperPolicies.flatMap(([, p]) =>
      (p.Properties.PolicyDocument as { Statement: { Action: string | string[] }[] }).Statement.flatMap(
        (st) => st.Action,
      ),
    );
    expect(actions).toContain('states:StartExecution');
    expect(actions).not.toContain('s3:PutObject');
  });

  const states = () => (JSON.parse(definition()) as { States: Record<string, Json> }).States;
  const runState = () =>
    Object.values(states()).find((s) => String(s.Resource).endsWith(':states:::batch:submitJob.sync'))!;

  it('submits the validator as an AWS Batch job with batch:submitJob.sync, never ecs:runTask', () => {
    const text = definition();
    expect(text).toContain(':states:::batch:submitJob.sync');
    expect(text).not.toContain('ecs:runTask');
    const run = runState();
    expect(run.Parameters).toMatchObject({
      JobName: 'modelgate-validate',
      ContainerOverrides: {
        Environment: [
          { Name: 'MODELGATE_MODEL', 'Value.$': '$.model' },
          { Name: 'MODELGATE_VERSION', 'Value.$': '$.version' },
          { Name: 'MODELGATE_LEASE_OWNER', 'Value.$': '$.executionId' },
        ],
      },
    });
    // Only Batch API errors are retried here: the job's own retry strategy already spent its attempts.
    expect(run.Retry).toEqual([
      expect.objectContaining({ ErrorEquals: [...BATCH_API_ERRORS], JitterStrategy: 'FULL' }),
    ]);
    expect(run.Catch).toEqual([expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'Finalize' })]);
    expect(run.Next).toBe('Finalize');
    // Each attempt's limit is the job definition's (a task timeout here would replace it).
    expect(run.Parameters).not.toHaveProperty('Timeout');
    expect(run).not.toHaveProperty('TimeoutSeconds');
  });

  it('has no Auto Scaling group, capacity provider, ECS cluster or ECS task definition', () => {
    for (const type of [
      'AWS::AutoScaling::AutoScalingGroup',
      'AWS::ECS::CapacityProvider',
      'AWS::ECS::ClusterCapacityProviderAssociations',
      'AWS::ECS::Cluster',
      'AWS::ECS::TaskDefinition',
    ])
      templates.validation.resourceCountIs(type, 0);
  });

  it('runs on managed GPU compute environments of several instance types, from zero vCPUs, on the GPU AMI', () => {
    const envs = resourcesOf(templates.validation, 'AWS::Batch::ComputeEnvironment').map(
      ([, r]) => r.Properties,
    );
    expect(envs).toHaveLength(1); // on-demand; Spot is opt-in (account-names.test.ts synthesizes it)
    expect(envs[0]).toMatchObject({
      Type: 'managed',
      ComputeResources: expect.objectContaining({
        Type: 'EC2',
        MinvCpus: 0,
        MaxvCpus: 16,
        InstanceTypes: ['g6.xlarge', 'g5.xlarge', 'g4dn.xlarge'],
        Ec2Configuration: [{ ImageType: 'ECS_AL2023_NVIDIA' }],
        LaunchTemplate: expect.anything(),
      }),
    });
    templates.validation.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        MetadataOptions: Match.objectLike({ HttpTokens: 'required' }),
        BlockDeviceMappings: [
          Match.objectLike({
            DeviceName: '/dev/xvda',
            Ebs: Match.objectLike({ Encrypted: true, VolumeSize: 200 }),
          }),
        ],
      }),
    });
  });

  it('queues jobs on those environments and cancels a job blocked at the head of the queue', () => {
    const [[, queue]] = resourcesOf(templates.validation, 'AWS::Batch::JobQueue') as [[string, Resource]];
    expect(queue.Properties.ComputeEnvironmentOrder).toEqual([
      { ComputeEnvironment: expect.anything(), Order: 1 },
    ]);
    expect(queue.Properties.JobStateTimeLimitActions).toEqual(
      [
        'CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY',
        'MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE',
        'MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT',
      ].map((reason) => ({ Action: 'CANCEL', MaxTimeSeconds: 240 * 60, Reason: reason, State: 'RUNNABLE' })),
    );
  });

  it('defines a one-GPU job with a memory limit, an attempt timeout and a retry strategy that never retries a verdict or a configuration exit', () => {
    const [[, job]] = resourcesOf(templates.validation, 'AWS::Batch::JobDefinition') as [[string, Resource]];
    expect(job.Properties).toMatchObject({
      Type: 'container',
      PlatformCapabilities: ['EC2'],
      Timeout: { AttemptDurationSeconds: 120 * 60 },
      ContainerProperties: expect.objectContaining({
        ResourceRequirements: expect.arrayContaining([
          { Type: 'GPU', Value: '1' },
          { Type: 'MEMORY', Value: String(14 * 1024) },
          { Type: 'VCPU', Value: '3' },
        ]),
        JobRoleArn: expect.anything(),
      }),
      RetryStrategy: {
        Attempts: 3,
        EvaluateOnExit: [
          { Action: 'RETRY', OnStatusReason: 'Host EC2*' },
          { Action: 'RETRY', OnExitCode: '1' },
          { Action: 'EXIT', OnExitCode: '2' },
          { Action: 'EXIT', OnReason: 'CannotPullContainerError:*' },
          { Action: 'EXIT', OnExitCode: '*' },
        ],
      },
    });
    const env = Object.fromEntries(
      ((job.Properties.ContainerProperties as Json).Environment as { Name: string; Value: unknown }[]).map(
        (e) => [e.Name, e.Value],
      ),
    );
    expect(env).toMatchObject({
      MODELGATE_LEASE_MS: String(600_000),
      MODELGATE_HEARTBEAT_MS: String(60_000),
      MODELGATE_MAX_ATTEMPTS: '3',
      POWERTOOLS_SERVICE_NAME: 'modelgate-gpu-validator',
    });
  });

  it("gives the validation Lambdas and the validator job one lease; the pre-check reserves for the execution's whole life", () => {
    const variables = resourcesOf(templates.validation, 'AWS::Lambda::Function')
      .map(
        ([, f]) =>
          (f.Properties as { Environment?: { Variables?: Record<string, string> } }).Environment?.Variables,
      )
      .filter((v) => v?.POWERTOOLS_SERVICE_NAME?.startsWith('modelgate-validation-'));
    expect(variables.map((v) => v?.POWERTOOLS_SERVICE_NAME).sort()).toEqual([
      'modelgate-validation-finalize',
      'modelgate-validation-precheck',
      'modelgate-validation-sweeper',
    ]);
    for (const v of variables) expect(v?.MODELGATE_LEASE_MS).toBe(String(600_000));
    const [[, sm]] = resourcesOf(templates.validation, 'AWS::StepFunctions::StateMachine') as [
      [string, Resource],
    ];
    const precheck = variables.find((v) => v?.POWERTOOLS_SERVICE_NAME === 'modelgate-validation-precheck');
    const limitSeconds = (JSON.parse(definition()) as { TimeoutSeconds: number }).TimeoutSeconds;
    // Blocked in the queue for at most 240 min, then 3 attempts of at most 120 + 15 min, plus an hour.
    expect(limitSeconds).toBe((240 + 3 * (120 + 15) + 60) * 60);
    expect(Number(precheck?.MODELGATE_QUEUE_HOLD_MS)).toBe(limitSeconds * 1000);
    expect(sm.Properties.DefinitionString).toBeDefined();
  });

  it('gives the pre-check the job capacity it checks against', () => {
    templates.validation.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          MODELGATE_VALIDATOR_DISK_BYTES: String(160 * 1024 ** 3),
          MODELGATE_VALIDATOR_MEMORY_BYTES: String(13 * 1024 ** 3),
        }),
      },
    });
  });

  it('sends failed, timed-out and aborted executions to a dead-letter queue', () => {
    templates.validation.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: Match.objectLike({
        source: ['aws.states'],
        detail: Match.objectLike({ status: ['FAILED', 'TIMED_OUT', 'ABORTED'] }),
      }),
      Targets: [Match.objectLike({ Arn: Match.anyValue() })],
    });
    // ... and the blocked-queue events to theirs.
    templates.validation.resourceCountIs('AWS::SQS::Queue', 2);
  });
});

describe('observability', () => {
  it(`has the dashboard "${DASHBOARD_TITLE}" with a "${PROVIDER_HEALTH_PANEL}" panel`, () => {
    const [[, dashboard]] = resourcesOf(templates.observability, 'AWS::CloudWatch::Dashboard') as [
      [string, Resource],
    ];
    // CloudWatch refuses spaces in dashboard names: the title is the heading, the name its slug.
    expect(dashboard.Properties.DashboardName).toBe(`Modelgate-${DASHBOARD_NAME}`);
    expect(DASHBOARD_NAME).toBe('CAD-ML-Platform-Observability');
    const body = JSON.stringify(dashboard.Properties.DashboardBody);
    expect(body).toContain(`# ${DASHBOARD_TITLE}`);
    expect(body).toContain(`\\"title\\":\\"${PROVIDER_HEALTH_PANEL}\\"`);
  });

  it('alarms on field MODEL_LOAD_ERROR reports, validation failures, the DLQ and every Lambda', () => {
    const alarms = resourcesOf(templates.observability, 'AWS::CloudWatch::Alarm').map(
      ([, r]) => r.Properties,
    );
    const expressions = alarms
      .flatMap((a) => list(a.Metrics as Json[] | undefined).map((m) => m.Expression))
      .filter(Boolean);
    expect(expressions).toContain('SELECT SUM(errors) FROM SCHEMA("ocr", code, service)');
    expect(expressions).toContain('SELECT SUM(validation_failures) FROM SCHEMA("ocr", code, service)');
    const lambdaCount = stacks.api.registryApi.functions.size + 2;
    expect(
      alarms.filter((a) => a.MetricName === 'MatchedEvents' && a.Namespace === 'AWS/Events'),
    ).toHaveLength(1);
    expect(alarms.filter((a) => a.MetricName === 'Errors' && a.Namespace === 'AWS/Lambda')).toHaveLength(
      lambdaCount,
    );
    expect(alarms.some((a) => a.MetricName === 'ApproximateNumberOfMessagesVisible')).toBe(true);
    for (const a of alarms)
      expect(list(a.AlarmActions as unknown[]).length, String(a.AlarmDescription)).toBe(1);
  });

  it('pages on serving failures only: refused candidates (validation_failures) notify the ticket topic', () => {
    const topics = Object.fromEntries(
      resourcesOf(templates.observability, 'AWS::SNS::Topic').map(([id, r]) => [
        String(r.Properties.DisplayName),
        id,
      ]),
    );
    const pageTopic = topics['modelgate alarms (page)'];
    const ticketTopic = topics['modelgate notices (ticket, not paging)'];
    expect(pageTopic).toBeDefined();
    expect(ticketTopic).toBeDefined();
    const alarms = resourcesOf(templates.observability, 'AWS::CloudWatch::Alarm').map(
      ([, r]) => r.Properties,
    );
    const topicOf = (a: Json) => (list(a.AlarmActions as Json[])[0] as { Ref?: string }).Ref;
    const reads = (a: Json, metric: string) =>
      list(a.Metrics as Json[] | undefined).some((m) =>
        String(m.Expression ?? '').includes(`SUM(${metric})`),
      );
    const refusals = alarms.filter((a) => reads(a, 'validation_failures'));
    expect(refusals).toHaveLength(1);
    expect(topicOf(refusals[0]!)).toBe(ticketTopic);
    expect(String(refusals[0]!.AlarmDescription)).toMatch(/^Not paging/);
    const serving = alarms.filter((a) => reads(a, 'errors'));
    expect(serving).toHaveLength(1);
    expect(topicOf(serving[0]!)).toBe(pageTopic);
    // every other alarm pages: only the refusal alarm is a ticket
    expect(alarms.filter((a) => topicOf(a) === ticketTopic)).toHaveLength(1);
  });
});

describe('signing key', () => {
  /** Every Allow statement naming `action`, with the stack and policy resource that carries it. */
  const allowing = (action: string) =>
    allStatements().filter(
      ({ statement }) =>
        statement.Effect === 'Allow' && list(statement.Action as string | string[]).includes(action),
    );

  it('is a retained KMS ECC_NIST_P256 SIGN_VERIFY key in the stateful stack', () => {
    const keys = resourcesOf(templates.stateful, 'AWS::KMS::Key');
    const signing = keys.filter(([, r]) => r.Properties.KeySpec === 'ECC_NIST_P256');
    expect(signing).toHaveLength(1);
    expect(signing[0]![1].Properties.KeyUsage).toBe('SIGN_VERIFY');
    templates.stateful.hasResource('AWS::KMS::Key', {
      Properties: { KeySpec: 'ECC_NIST_P256' },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('denies kms:Sign in its key policy to every principal not tagged as the signer', () => {
    const [, key] = resourcesOf(templates.stateful, 'AWS::KMS::Key').find(
      ([, r]) => r.Properties.KeySpec === 'ECC_NIST_P256',
    )!;
    const statements = (key.Properties.KeyPolicy as { Statement: Json[] }).Statement;
    const deny = statements.filter((s) => s.Effect === 'Deny');
    expect(deny).toHaveLength(1);
    expect(deny[0]).toMatchObject({
      Action: 'kms:Sign',
      Principal: { AWS: '*' },
      Condition: { StringNotEquals: { 'aws:PrincipalTag/modelgate-signer': 'finalize' } },
    });
  });

  it('lets only the finalize role sign, and tags only it as the signer', () => {
    const signers = allowing('kms:Sign');
    expect(signers.map((s) => `${s.stack}/${s.logicalId}`)).toHaveLength(1);
    expect(signers[0]!.stack).toBe('validation');
    expect(signers[0]!.logicalId).toMatch(/^PipelineFinalizeFunctionRole/);
    const tagged = Object.entries(templates).flatMap(([stack, t]) =>
      resourcesOf(t, 'AWS::IAM::Role')
        .filter(([, r]) =>
          list(r.Properties.Tags as Json[] | undefined).some(
            (tag) => tag.Key === 'modelgate-signer' && tag.Value === 'finalize',
          ),
        )
        .map(([id]) => `${stack}/${id}`),
    );
    expect(tagged).toHaveLength(1);
    expect(tagged[0]).toMatch(/^validation\/PipelineFinalizeFunctionRole/);
  });

  it('gives the finalize function and the API function that serves the key its ARN; the API only reads it', () => {
    const withKey = Object.entries(templates).flatMap(([stack, t]) =>
      resourcesOf(t, 'AWS::Lambda::Function')
        .filter(([, r]) => {
          const vars = (r.Properties.Environment as { Variables?: Json } | undefined)?.Variables ?? {};
          return 'MODELGATE_SIGNING_KMS_KEY_ID' in vars;
        })
        .map(([id]) => `${stack}/${id}`),
    );
    expect(withKey.sort()).toEqual([
      expect.stringMatching(/^api\/RegistryApiDownloadsRoutes/),
      expect.stringMatching(/^validation\/PipelineFinalizeFunction/),
    ]);
    expect(actionsOf(groupStatements('downloads'))).toContain('kms:GetPublicKey');
    expect(actionsOf(groupStatements('downloads'))).not.toContain('kms:Sign');
  });
});

describe('cfn-lint', () => {
  it.skipIf(cfnLintMissing !== undefined)(
    `finds nothing in any synthesized template but the findings CDK itself causes${cfnLintMissing ? ` (skipped: ${cfnLintMissing})` : ''}`,
    () => {
      const { templates: linted, unexpected } = cfnLint(outdir);
      expect(linted).toHaveLength(4);
      expect(unexpected).toEqual([]);
    },
    120_000,
  );
});
