import { z } from 'zod';
import { ModelName, ProviderName, VersionString } from './names.schema.js';
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
 * unit: the embedded server (`modelgate serve`), every Lambda, and the validator's Batch job. The CDK
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
  /**
   * A blob upload must move at least this many bytes per second, averaged over each stretch of
   * `MODELGATE_IDLE_TIMEOUT_MS`, or it is cut with 408 `TIMEOUT`: a client trickling a byte now and then
   * would otherwise hold its connection and temporary file for as long as its declared size allows.
   * 16 KiB/s is 128 kbit/s per upload; 0 turns the rule off.
   */
  MODELGATE_UPLOAD_MIN_BYTES_PER_SECOND: z.coerce
    .number()
    .int()
    .min(0)
    .default(16 * 1024),
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

/** `-c gpuSpot=true` arrives as a string, cdk.json gives the boolean itself. */
const ContextBoolean = z.preprocess(
  (raw) => (raw === 'true' ? true : raw === 'false' ? false : raw),
  z.boolean('expected true or false'),
);

/** A GPU instance type (G or P family), e.g. `g6.xlarge`. */
const GpuInstanceType = z
  .string()
  .regex(/^(g|p)[0-9][a-z0-9-]*\.[a-z0-9]+$/, 'must be a GPU instance type (G or P family), e.g. g6.xlarge');

/** `-c gpuInstanceTypes=g6.xlarge,g5.xlarge` arrives as a string, cdk.json may give an array. */
const GpuInstanceTypesContext = z.preprocess(
  (raw) =>
    typeof raw === 'string'
      ? raw
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean)
      : raw,
  z.array(GpuInstanceType).min(1, 'name at least one instance type').max(20),
);

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
    /**
     * Prefix of the names that are account-wide and so would collide between two copies: the three IAM
     * managed policies and the dashboard. @default `${stackPrefix}-`
     */
    policyNamePrefix: z
      .string()
      .regex(/^[A-Za-z0-9+=,.@_-]{0,60}$/, 'must match /^[A-Za-z0-9+=,.@_-]{0,60}$/')
      .optional(),
    /**
     * GPU instance types the Batch compute environments may launch, comma-separated (or a JSON array in
     * cdk.json): several sizes and families, so that a shortage of one does not stop validation. Each
     * must have at least one GPU and the validator's memory. @default 'g6.xlarge,g5.xlarge,g4dn.xlarge'
     */
    gpuInstanceTypes: GpuInstanceTypesContext.default(['g6.xlarge', 'g5.xlarge', 'g4dn.xlarge']),
    /**
     * Most vCPUs each compute environment runs at once (the xlarge sizes have 4: 16 is four validations
     * at a time). New accounts often have a G-instance vCPU quota of 0: see cdk/README.md. @default 16
     */
    gpuMaxVcpus: contextInt(1, 10_000, 16),
    /** Add a Spot compute environment behind the on-demand one (used when on-demand is at gpuMaxVcpus). @default false */
    gpuSpot: ContextBoolean.default(false),
    /** Root EBS volume of a GPU instance, GiB: container images plus validation scratch space. @default 200 */
    gpuDiskGiB: contextInt(30, 16_384, 200),
    /** Part of the disk kept for the OS and the (CUDA) container image, GiB; the rest is scratch. @default 40 */
    gpuDiskReservedGiB: contextInt(10, 16_000, 40),
    /**
     * Hard memory limit of the validator container, MiB; must fit every instance type's registered memory
     * (the xlarge sizes: 16 GiB, of which ECS registers about 15.3 GiB). @default 14336
     */
    validatorMemoryMiB: contextInt(1024, 4 * 1024 * 1024, 14 * 1024),
    /** Of that, what the validator process itself keeps, MiB; the rest is what a model may use. @default 1024 */
    validatorOverheadMiB: contextInt(128, 64 * 1024, 1024),
    /** vCPUs of one validation job (the xlarge sizes have 4). @default 3 */
    validatorVcpus: contextInt(1, 192, 3),
    /** `asset`: build gpu-validator/Dockerfile at deploy time. `ecr`: use a pushed image. @default 'asset' */
    validatorImage: z.enum(['asset', 'ecr'], 'expected asset or ecr').default('asset'),
    /**
     * The pushed image's tag, required with `ecr`: the git sha `npm run image:push` tagged it with (the
     * repository's tags are immutable, so there is no moving `latest`). @default none
     */
    validatorImageTag: z
      .string()
      .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, 'must be an image tag, e.g. a git sha')
      .optional(),
    /** One validation job attempt may run this long, minutes, before Batch stops it (not retried). @default 120 */
    validationTimeoutMinutes: contextInt(5, 24 * 60, 120),
    /** Attempts of one validation job: host failures and infrastructure exits are retried. @default 3 */
    validationJobAttempts: contextInt(1, 10, 3),
    /**
     * A job blocked in the queue (no capacity, quota or instance type that fits) is cancelled after this
     * many minutes; the version is released, never failed. @default 240
     */
    validationQueueTimeoutMinutes: contextInt(10, 24 * 60, 240),
    /** The validator's lease (MODELGATE_LEASE_MS), seconds: taken when its job starts. @default 600 */
    validationLeaseSeconds: contextInt(60, 24 * 3600, 600),
    /** How often the validator extends it (MODELGATE_HEARTBEAT_MS), seconds; at most half the lease. @default 60 */
    validationHeartbeatSeconds: contextInt(1, 12 * 3600, 60),
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
    if (s.validatorVcpus > s.gpuMaxVcpus)
      ctx.addIssue({
        code: 'custom',
        path: ['validatorVcpus'],
        message: `${s.validatorVcpus} exceeds gpuMaxVcpus (${s.gpuMaxVcpus}): no job could ever run`,
      });
    if (s.validatorImage === 'ecr' && s.validatorImageTag === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['validatorImageTag'],
        message: 'is required with validatorImage=ecr: the git sha `npm run image:push` pushed',
      });
    if (s.validationHeartbeatSeconds * 2 > s.validationLeaseSeconds)
      ctx.addIssue({
        code: 'custom',
        path: ['validationHeartbeatSeconds'],
        message: `${s.validationHeartbeatSeconds} is over half of validationLeaseSeconds (${s.validationLeaseSeconds})`,
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

/**
 * The AWS validation pipeline's own settings, set by the CDK app (cdk/constructs/validation-pipeline.ts,
 * validator-job.ts) from its context (`CdkContext`): the pre-check Lambda reads the first, the validator
 * container the second (with the registry settings above, under the same names).
 */
export const ValidationPipelineEnv = z.object({
  /**
   * How long a version stays reserved for a job waiting in the Batch queue, in milliseconds: the state
   * machine's time limit, so that the reservation outlives the execution that holds it.
   */
  MODELGATE_QUEUE_HOLD_MS: positiveInt(60_000).optional(),
  /**
   * How often the validator extends its lease, in milliseconds. Default: a third of MODELGATE_LEASE_MS;
   * at most half of it, so a missed beat is retried before the lease runs out.
   */
  MODELGATE_HEARTBEAT_MS: positiveInt(250).optional(),
});
export type ValidationPipelineEnv = z.infer<typeof ValidationPipelineEnv>;

/**
 * The validator job's own environment (gpu-validator/ecs-job.ts reads it with the registry settings,
 * RegistryEnv): the version to validate and its owner, set per job by the state machine, and the job
 * definition's settings (cdk/stacks/validation-stack.ts). Names as on the local server where the meaning
 * is the same (MODELGATE_VALIDATION_TIMEOUT_MS).
 */
export const ValidatorJobEnv = z.object({
  /** MODELGATE_MODEL (or MODEL, or `--model`): the model of the version to validate. */
  MODEL: ModelName,
  /** MODELGATE_VERSION (or VERSION, or `--version`). */
  VERSION: VersionString,
  /** MODELGATE_LEASE_OWNER (or LEASE_OWNER): the Step Functions execution the version is reserved for. */
  LEASE_OWNER: z.string().min(1).max(2048),
  ...AwsStorageEnv.shape,
  MODELGATE_HEARTBEAT_MS: ValidationPipelineEnv.shape.MODELGATE_HEARTBEAT_MS,
  /** Preference list for the runtime, e.g. `cuda,cpu`; the report says which one actually ran. Default cuda,cpu. */
  MODELGATE_EXECUTION_PROVIDERS: z
    .string()
    .default('cuda,cpu')
    .transform((s) =>
      s
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean),
    )
    .pipe(z.array(z.string().regex(/^[a-z0-9_-]{1,32}$/, 'must be provider names like cuda,cpu')).min(1)),
  /** Where the job stages model files (the image sets /scratch). Default: the OS temp folder. */
  MODELGATE_SCRATCH_DIR: z.string().min(1).optional(),
  /**
   * Per file: session creation plus the smoke run, in milliseconds: the local server's setting of the
   * same name; its default here is 15 minutes (10 on the local server).
   */
  MODELGATE_VALIDATION_TIMEOUT_MS: positiveInt().default(15 * 60_000),
});
