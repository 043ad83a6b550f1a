import { z } from 'zod';
import { ProviderName } from './names.schema.js';
import { NodeClasses, NodeClassesJson } from './node-class.schema.js';

const Bytes = z.coerce.number().int().positive();

export const TOKEN_ROLES = ['reader', 'node', 'publisher', 'admin'] as const;
export type TokenRole = (typeof TOKEN_ROLES)[number];

/**
 * Parses `role=token,role=token` (roles: reader, node, publisher, admin). A pair splits at its first
 * `=` only and the token is kept verbatim, so base64 tokens ending in `=` work. A token listed under two
 * roles is refused (the message names the roles, never the token): which role it holds would otherwise
 * depend on the order of the list.
 */
const Tokens = z.string().transform((s, ctx) => {
  const tokens: { role: TokenRole; token: string }[] = [];
  const pairs = s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  for (const [i, pair] of pairs.entries()) {
    const eq = pair.indexOf('=');
    const role = eq < 0 ? pair : pair.slice(0, eq);
    const token = eq < 0 ? '' : pair.slice(eq + 1);
    if (!(TOKEN_ROLES as readonly string[]).includes(role) || token.length < 16) {
      ctx.addIssue({
        code: 'custom',
        message: `pair ${i + 1}: expected role=token (role one of ${TOKEN_ROLES.join('|')}, token ≥ 16 chars)`,
      });
      return z.NEVER;
    }
    const other = tokens.find((t) => t.token === token);
    if (other && other.role !== role) {
      ctx.addIssue({
        code: 'custom',
        message: `pair ${i + 1}: one token is listed under two roles (${other.role} and ${role}); give each role its own token`,
      });
      return z.NEVER;
    }
    if (!other) tokens.push({ role: role as TokenRole, token });
  }
  return tokens;
});

const positiveInt = (min = 1, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);

/**
 * The registry settings every deployment reads, under one name each, with one meaning, default and
 * unit: the embedded server (`modelgate serve`), every Lambda, and the validator's ECS task. The CDK
 * app sets them on the Lambdas and the task (cdk/constructs/). core/registry-settings.ts maps them to
 * `RegistrySettings`. Each is documented once, here, and listed in the README's configuration table
 * (test/unit/config-vocabulary.test.ts checks that the two agree).
 */
export const RegistryEnv = z.object({
  /** Lifetime of upload and download URLs, in seconds; S3 signs at most 7 days. Default 3600. */
  MODELGATE_URL_TTL_SECONDS: positiveInt(10, 7 * 24 * 3600).default(3600),
  /** Validation lease, in milliseconds: a validator heartbeats every third of it. Default 30000. */
  MODELGATE_LEASE_MS: positiveInt(1000).default(30_000),
  /** Validation attempts before a version whose validations keep dying is FAILED with TIMEOUT. Default 3. */
  MODELGATE_MAX_ATTEMPTS: positiveInt(1, 20).default(3),
  /**
   * Memory budget of one validation when the version names none, in bytes: the child is killed past it.
   * Default: the smallest node class's memory, else 4 GiB.
   */
  MODELGATE_MEMORY_BUDGET: Bytes.optional(),
  /** JSON array of serving node classes, e.g. [{"name":"cpu-small","memoryBytes":2147483648}]. Default none. */
  MODELGATE_NODE_CLASSES: NodeClassesJson.default([]),
  /** Quarantine a VERIFIED version when this many distinct authenticated reporters report failures … Default 3. */
  MODELGATE_QUARANTINE_NODES: positiveInt(1, 1000).default(3),
  /** … within this many milliseconds. Default 900000 (15 min). */
  MODELGATE_QUARANTINE_WINDOW_MS: positiveInt(1000).default(15 * 60_000),
  /** Roll back a provider's ramp when this many distinct authenticated reporters report failures during it. Default 2. */
  MODELGATE_RAMP_ROLLBACK_REPORTERS: positiveInt(1, 1000).default(2),
  /** The window of the provider health score, in milliseconds. Default 3600000 (1 h). */
  MODELGATE_HEALTH_WINDOW_MS: positiveInt(1000).default(60 * 60_000),
  /** Files over this many bytes are uploaded to S3 in parts. Default 64 MiB, at most 5 GiB (one PUT). */
  MODELGATE_S3_MULTIPART_THRESHOLD_BYTES: positiveInt(0, 5 * 1024 ** 3).optional(),
  /** The size of one S3 upload part, in bytes. Default 64 MiB; S3 takes 5 MiB to 5 GiB. */
  MODELGATE_S3_PART_SIZE_BYTES: positiveInt(5 * 1024 ** 2, 5 * 1024 ** 3).optional(),
});
export type RegistryEnv = z.infer<typeof RegistryEnv>;

/** The registry table and blob bucket, as the CDK stateful stack names them (required on AWS). */
export const AwsStorageEnv = z.object({
  MODELGATE_TABLE_NAME: z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/, 'must be a DynamoDB table name'),
  MODELGATE_BUCKET_NAME: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name'),
});

/**
 * The registry's signing key (signed provenance: schemas/signature.schema.ts). Locally an ECDSA P-256
 * key file, created in the data folder on first start unless a path is given; on AWS a KMS key.
 */
export const SigningEnv = z.object({
  /** PEM (PKCS#8) file of the ECDSA P-256 signing key. Default: `model-signing.pem` in the data folder, created 0600. */
  MODELGATE_SIGNING_KEY: z.string().min(1).optional(),
  /** Sign with this AWS KMS key (ECC_NIST_P256, SIGN_VERIFY) instead: a key id, key ARN or `alias/…`. */
  MODELGATE_SIGNING_KMS_KEY_ID: z
    .string()
    .regex(
      /^(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)\/[A-Za-z0-9/_-]+|alias\/[A-Za-z0-9/_-]+|[0-9a-f-]{36}|mrk-[0-9a-f]{32})$/,
      'must be a KMS key id, key ARN or alias',
    )
    .optional(),
});

/**
 * The local server's configuration: the shared registry settings plus its own. CLI flags override
 * environment variables, parsed once at start. A bad value fails with the variable's name.
 */
export const LocalServerConfig = z.object({
  ...RegistryEnv.shape,
  MODELGATE_DATA_DIR: z.string().min(1).default('.modelgate'),
  MODELGATE_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  MODELGATE_HOST: z.string().min(1).default('127.0.0.1'),
  MODELGATE_WORKERS: z.coerce.number().int().min(0).max(64).default(1),
  /** Per-file load + smoke inference limit. */
  MODELGATE_VALIDATION_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(10 * 60_000),
  /** Required when the server binds to a non-loopback address. */
  MODELGATE_TOKENS: Tokens.optional(),
  /** The URL clients reach the server at, for upload/download URLs; default http://HOST:PORT. */
  MODELGATE_PUBLIC_URL: z.url().optional(),
  /** Where metadata and bytes live: `embedded` (SQLite + blob folder) or `aws` (DynamoDB + S3). */
  MODELGATE_BACKEND: z.enum(['embedded', 'aws']).default('embedded'),
  /** With the aws backend: other endpoints than AWS's own (DynamoDB Local, an S3-compatible server). */
  MODELGATE_DYNAMODB_ENDPOINT: z.url().optional(),
  MODELGATE_S3_ENDPOINT: z.url().optional(),
  /** With the aws backend: the registry table and bucket (required then). */
  ...AwsStorageEnv.partial().shape,
  AWS_REGION: z.string().min(1).default('us-east-1'),
  /** Prefix of every metric name: the runbook's queries use `ocr_`. */
  MODELGATE_METRICS_NAMESPACE: z
    .string()
    .regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'must be a Prometheus metric name prefix ([a-zA-Z_][a-zA-Z0-9_]*)')
    .default('ocr'),
  /** The runbook's variable: comma-separated providers disabled at start (unlisted env-disabled ones are enabled). */
  DISABLED_PROVIDERS: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean),
    )
    .pipe(z.array(ProviderName))
    .default([]),
  /** Also append the JSON log lines to this file. */
  MODELGATE_LOG_FILE: z.string().min(1).optional(),
  /** How often gauges are rebuilt from the store and blob files are checked (ocr_model_files_present). */
  MODELGATE_METRICS_REFRESH_MS: z.coerce.number().int().min(200).default(15_000),
  /**
   * A blob upload or download (and any connection) is cut after this long without a byte moving; its
   * total duration is not limited, so a big model on a slow link can be published.
   */
  MODELGATE_IDLE_TIMEOUT_MS: z.coerce.number().int().min(100).default(60_000),
  /** Whole-request limit of the JSON API (not of blob transfers), Node's 300 s by default. */
  MODELGATE_REQUEST_TIMEOUT_MS: z.coerce.number().int().min(100).default(300_000),
  /** Re-hash rate of `modelgate scrub` when the request names none, and of checks after a node's report. */
  MODELGATE_SCRUB_BYTES_PER_SECOND: z.coerce
    .number()
    .int()
    .min(1024)
    .default(32 * 1024 * 1024),
  ...SigningEnv.shape,
});
export type LocalServerConfig = z.infer<typeof LocalServerConfig>;

export function parseLocalServerConfig(env: Record<string, string | undefined>): LocalServerConfig {
  const result = LocalServerConfig.superRefine((c, ctx) => {
    if (c.MODELGATE_BACKEND !== 'aws') return;
    for (const key of ['MODELGATE_TABLE_NAME', 'MODELGATE_BUCKET_NAME'] as const)
      if (!c[key])
        ctx.addIssue({ code: 'custom', path: [key], message: 'is required with MODELGATE_BACKEND=aws' });
  }).safeParse(env);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new Error(`configuration: ${issue.path.join('.')}: ${issue.message}`);
}

/** The retention periods CloudWatch Logs accepts, in days. */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const contextInt = (min: number, max: number, fallback: number) =>
  z.coerce
    .number()
    .int()
    .min(min, `expected an integer in [${min}, ${max}]`)
    .max(max, `expected an integer in [${min}, ${max}]`)
    .default(fallback);
const contextString = (pattern: RegExp, fallback: string) =>
  z.string().regex(pattern, `must match ${pattern}`).default(fallback);

/** `-c nodeClasses='[...]'` arrives as a string, cdk.json gives the array itself. */
const NodeClassesContext = z.preprocess((raw) => {
  if (typeof raw !== 'string') return raw;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}, NodeClasses);

/**
 * The CDK app's deployment knobs, read from CDK context (`cdk.json` or `-c key=value`), each with a
 * default that synthesizes offline (cdk/settings.ts parses them once, strictly: a typo in a number
 * fails the synth instead of deploying a cluster of size NaN). The registry settings the app passes to
 * the Lambdas and the validator task are RegistryEnv's, under their MODELGATE_ names.
 */
export const CdkContext = z
  .object({
    /** Prefix of every stack name, so two copies (e.g. staging) can live in one account. @default 'Modelgate' */
    stackPrefix: contextString(/^[A-Za-z][A-Za-z0-9-]{0,40}$/, 'Modelgate'),
    /** Prefix of the three IAM managed policy names (IAM names are account-wide). @default '' */
    policyNamePrefix: contextString(/^[A-Za-z0-9+=,.@_-]{0,60}$/, ''),
    /** GPU instance type of the validation capacity (one validation task per instance). @default 'g5.xlarge' */
    gpuInstanceType: contextString(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, 'g5.xlarge'),
    /** @default 0 */
    gpuMinCapacity: contextInt(0, 1000, 0),
    /** @default 4 */
    gpuMaxCapacity: contextInt(1, 1000, 4),
    /** Root EBS volume of a GPU instance, GiB: container images plus validation scratch space. @default 200 */
    gpuDiskGiB: contextInt(30, 16_384, 200),
    /** Part of the disk kept for the OS and the (CUDA) container image, GiB; the rest is scratch. @default 40 */
    gpuDiskReservedGiB: contextInt(10, 16_000, 40),
    /**
     * Hard memory limit of the validator container, MiB; must fit the instance type's registered memory
     * (g5.xlarge: 16 GiB, of which ECS registers about 15.3 GiB). @default 14336
     */
    validatorMemoryMiB: contextInt(1024, 4 * 1024 * 1024, 14 * 1024),
    /** Of that, what the validator process itself keeps, MiB; the rest is what a model may use. @default 1024 */
    validatorOverheadMiB: contextInt(128, 64 * 1024, 1024),
    /** @default 3072 */
    validatorCpuUnits: contextInt(256, 192 * 1024, 3 * 1024),
    /** `asset`: build gpu-validator/Dockerfile at deploy time. `ecr`: use a pushed image. @default 'asset' */
    validatorImage: z.enum(['asset', 'ecr'], 'expected asset or ecr').default('asset'),
    /** @default 'latest' */
    validatorImageTag: contextString(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'latest'),
    /** One validation task may run this long, minutes, before it counts as hung. @default 120 */
    validationTimeoutMinutes: contextInt(5, 24 * 60, 120),
    /** Retries of the ECS task on infrastructure errors (capacity, task stopped), with backoff. @default 3 */
    validationInfraRetries: contextInt(0, 10, 3),
    /** CloudWatch namespace of the registry's EMF metrics (the runbook's `ocr`). @default 'ocr' */
    metricsNamespace: contextString(/^[A-Za-z0-9._/#:-]{1,255}$/, 'ocr'),
    /** Optional e-mail subscribed to the alarm topic. @default none */
    alarmEmail: z
      .union([z.literal(''), z.string().regex(/^[^@\s]+@[^@\s]+$/, 'must be an e-mail address')])
      .optional()
      .transform((v) => v || undefined),
    /** Validation failures per hour that page someone. @default 5 */
    validationFailureAlarmThreshold: contextInt(1, 100_000, 5),
    /** @default 90 */
    logRetentionDays: contextInt(1, 3653, 90).refine(
      (d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d),
      {
        message: `CloudWatch accepts ${LOG_RETENTION_DAYS.join(', ')}`,
      },
    ),
    /** Serving node classes every report is judged against (MODELGATE_NODE_CLASSES). @default [] */
    nodeClasses: NodeClassesContext.default([]),
  })
  .superRefine((s, ctx) => {
    if (s.gpuMinCapacity > s.gpuMaxCapacity)
      ctx.addIssue({
        code: 'custom',
        path: ['gpuMinCapacity'],
        message: `${s.gpuMinCapacity} exceeds gpuMaxCapacity (${s.gpuMaxCapacity})`,
      });
    if (s.gpuDiskReservedGiB >= s.gpuDiskGiB)
      ctx.addIssue({
        code: 'custom',
        path: ['gpuDiskReservedGiB'],
        message: `${s.gpuDiskReservedGiB} leaves no scratch space on gpuDiskGiB (${s.gpuDiskGiB})`,
      });
    if (s.validatorOverheadMiB >= s.validatorMemoryMiB)
      ctx.addIssue({
        code: 'custom',
        path: ['validatorOverheadMiB'],
        message: `${s.validatorOverheadMiB} leaves no memory for the model`,
      });
  });
export type CdkContext = z.infer<typeof CdkContext>;
