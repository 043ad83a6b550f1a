import { z } from 'zod';
import { AwsStorageEnv, RegistryEnv, SigningEnv } from '../../schemas/config.schema.js';

/**
 * Every environment variable a modelgate Lambda reads, in ONE schema, parsed once per cold start: the
 * registry settings every deployment shares (schemas/config.schema.ts) plus the Lambdas' own.
 * The CDK app (cdk/constructs/) sets them; a missing or malformed one fails the cold start with an
 * error that names the variable, instead of a request failing later with an SDK error about `undefined`.
 *
 * Variables only some functions need (the state machine for the API, the task sizes for the
 * validation pre-check) are optional here and demanded by `loadAwsConfig(env, required)`.
 */

const positiveInt = (max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(1).max(max);

export const AwsEnv = z.object({
  // The shared settings (URL lifetime, lease, attempts, memory budget, node classes, operations, S3
  // parts) and the table and bucket, under the same names as everywhere else.
  ...RegistryEnv.shape,
  ...AwsStorageEnv.shape,
  /** The KMS signing key: the finalize function signs with it, the API serves its public key. */
  MODELGATE_SIGNING_KMS_KEY_ID: SigningEnv.shape.MODELGATE_SIGNING_KMS_KEY_ID,
  /** The validation state machine: only the API functions that enqueue need it. */
  STATE_MACHINE_ARN: z
    .string()
    .regex(
      /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$/,
      'must be a state machine ARN',
    )
    .optional(),
  /** CloudWatch namespace of the registry's EMF metrics; `ocr` so the runbook's names hold. */
  METRICS_NAMESPACE: z
    .string()
    .regex(/^[A-Za-z0-9._/#:-]{1,255}$/, 'must be a CloudWatch namespace')
    .default('ocr'),
  /** Powertools reads it too (service name in logs, `service` dimension in metrics). */
  POWERTOOLS_SERVICE_NAME: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be a service name'),
  /** Scratch disk of one validation task, for the pre-check (bytes). */
  VALIDATOR_DISK_BYTES: positiveInt().optional(),
  /** Memory one validation task can give the model, for the pre-check (bytes). */
  VALIDATOR_MEMORY_BYTES: positiveInt().optional(),
});
export type AwsEnv = z.infer<typeof AwsEnv>;

/** The optional variables a given function cannot run without. */
export type OptionalAwsVar = 'STATE_MACHINE_ARN' | 'VALIDATOR_DISK_BYTES' | 'VALIDATOR_MEMORY_BYTES';

export type AwsConfig<R extends OptionalAwsVar = never> = AwsEnv & { [K in R]-?: NonNullable<AwsEnv[K]> };

export class AwsConfigError extends Error {
  constructor(
    readonly variables: readonly string[],
    detail: string,
  ) {
    super(`invalid Lambda environment: ${detail}`);
    this.name = 'AwsConfigError';
  }
}

export function loadAwsConfig<R extends OptionalAwsVar = never>(
  env: Readonly<Record<string, string | undefined>>,
  required: readonly R[] = [],
): AwsConfig<R> {
  const parsed = AwsEnv.safeParse(env);
  const problems: { variable: string; message: string }[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const variable = String(issue.path[0] ?? '(environment)');
      const missing = env[variable] === undefined;
      problems.push({
        variable,
        message: missing ? 'is not set' : `${issue.message} (got ${JSON.stringify(env[variable])})`,
      });
    }
  } else {
    for (const variable of required) {
      if (parsed.data[variable] === undefined)
        problems.push({ variable, message: 'is not set (required by this function)' });
    }
  }
  if (problems.length > 0 || !parsed.success) {
    throw new AwsConfigError(
      problems.map((p) => p.variable),
      problems.map((p) => `${p.variable} ${p.message}`).join('; '),
    );
  }
  return parsed.data as AwsConfig<R>;
}
