import type { Construct } from 'constructs';
import { type NodeClass, NodeClasses } from '../schemas/node-class.schema.js';

/**
 * Deployment knobs, read from CDK context (`cdk.json` or `-c key=value`), each with a default that
 * synthesizes offline. Parsed once, strictly: a typo in a number fails the synth instead of deploying
 * a cluster of size NaN.
 */
export interface ModelgateSettings {
  /** Prefix of every stack name, so two copies (e.g. staging) can live in one account. */
  readonly stackPrefix: string;
  /** Prefix of the three IAM managed policy names (IAM names are account-wide, not regional). */
  readonly policyNamePrefix: string;
  /** GPU instance type of the validation capacity (one validation task per instance). */
  readonly gpuInstanceType: string;
  readonly gpuMinCapacity: number;
  readonly gpuMaxCapacity: number;
  /** Root EBS volume of a GPU instance: container images plus validation scratch space. */
  readonly gpuDiskGiB: number;
  /** Part of the disk kept for the OS and the (CUDA) container image; the rest is scratch. */
  readonly gpuDiskReservedGiB: number;
  /** Hard memory limit of the validator container; must fit the instance type's registered memory. */
  readonly validatorMemoryMiB: number;
  /** Of that, what the validator process itself keeps; the rest is what a model may use. */
  readonly validatorOverheadMiB: number;
  readonly validatorCpuUnits: number;
  /** `asset`: build gpu-validator/Dockerfile at deploy time. `ecr`: use a pushed image (see validatorImageTag). */
  readonly validatorImage: 'asset' | 'ecr';
  readonly validatorImageTag: string;
  /** One validation task may run this long before it counts as hung. */
  readonly validationTimeoutMinutes: number;
  /** Retries of the ECS task on infrastructure errors (capacity, task stopped), with backoff. */
  readonly validationInfraRetries: number;
  /** Metric namespace of the registry's EMF metrics (the runbook's `ocr`). */
  readonly metricsNamespace: string;
  /** Optional e-mail subscribed to the alarm topic. */
  readonly alarmEmail: string | undefined;
  /** Validation failures per hour that page someone (a burst means a broken runtime or node class). */
  readonly validationFailureAlarmThreshold: number;
  readonly logRetentionDays: number;
  /** Serving node classes every report is judged against (also the default memory budget). */
  readonly nodeClasses: readonly NodeClass[];
}

export const DEFAULT_SETTINGS: ModelgateSettings = {
  stackPrefix: 'Modelgate',
  policyNamePrefix: '',
  gpuInstanceType: 'g5.xlarge',
  gpuMinCapacity: 0,
  gpuMaxCapacity: 4,
  gpuDiskGiB: 200,
  gpuDiskReservedGiB: 40,
  // g5.xlarge: 16 GiB, of which ECS registers about 15.3 GiB; leave room for the agent and the OS.
  validatorMemoryMiB: 14 * 1024,
  validatorOverheadMiB: 1024,
  validatorCpuUnits: 3 * 1024,
  validatorImage: 'asset',
  validatorImageTag: 'latest',
  validationTimeoutMinutes: 120,
  validationInfraRetries: 3,
  metricsNamespace: 'ocr',
  alarmEmail: undefined,
  validationFailureAlarmThreshold: 5,
  logRetentionDays: 90,
  nodeClasses: [],
};

/** The retention periods CloudWatch Logs accepts. */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

const intOf = (key: string, raw: unknown, min: number, max: number): number => {
  const n = typeof raw === 'number' ? raw : Number(String(raw));
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(`context ${key}=${JSON.stringify(raw)}: expected an integer in [${min}, ${max}]`);
  }
  return n;
};

const stringOf = (key: string, raw: unknown, pattern: RegExp): string => {
  const s = String(raw);
  if (!pattern.test(s)) throw new Error(`context ${key}=${JSON.stringify(raw)}: must match ${pattern}`);
  return s;
};

export function readSettings(scope: Construct): ModelgateSettings {
  const get = <K extends keyof ModelgateSettings>(key: K): unknown =>
    scope.node.tryGetContext(key) ?? DEFAULT_SETTINGS[key];
  const image = get('validatorImage');
  if (image !== 'asset' && image !== 'ecr')
    throw new Error(`context validatorImage=${JSON.stringify(image)}: expected asset or ecr`);
  const settings: ModelgateSettings = {
    stackPrefix: stringOf('stackPrefix', get('stackPrefix'), /^[A-Za-z][A-Za-z0-9-]{0,40}$/),
    policyNamePrefix: stringOf('policyNamePrefix', get('policyNamePrefix'), /^[A-Za-z0-9+=,.@_-]{0,60}$/),
    gpuInstanceType: stringOf('gpuInstanceType', get('gpuInstanceType'), /^[a-z][a-z0-9-]*\.[a-z0-9]+$/),
    gpuMinCapacity: intOf('gpuMinCapacity', get('gpuMinCapacity'), 0, 1000),
    gpuMaxCapacity: intOf('gpuMaxCapacity', get('gpuMaxCapacity'), 1, 1000),
    gpuDiskGiB: intOf('gpuDiskGiB', get('gpuDiskGiB'), 30, 16_384),
    gpuDiskReservedGiB: intOf('gpuDiskReservedGiB', get('gpuDiskReservedGiB'), 10, 16_000),
    validatorMemoryMiB: intOf('validatorMemoryMiB', get('validatorMemoryMiB'), 1024, 4 * 1024 * 1024),
    validatorOverheadMiB: intOf('validatorOverheadMiB', get('validatorOverheadMiB'), 128, 64 * 1024),
    validatorCpuUnits: intOf('validatorCpuUnits', get('validatorCpuUnits'), 256, 192 * 1024),
    validatorImage: image,
    validatorImageTag: stringOf(
      'validatorImageTag',
      get('validatorImageTag'),
      /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/,
    ),
    validationTimeoutMinutes: intOf('validationTimeoutMinutes', get('validationTimeoutMinutes'), 5, 24 * 60),
    validationInfraRetries: intOf('validationInfraRetries', get('validationInfraRetries'), 0, 10),
    metricsNamespace: stringOf('metricsNamespace', get('metricsNamespace'), /^[A-Za-z0-9._/#:-]{1,255}$/),
    alarmEmail: (() => {
      const v = get('alarmEmail');
      return v === undefined || v === '' ? undefined : stringOf('alarmEmail', v, /^[^@\s]+@[^@\s]+$/);
    })(),
    validationFailureAlarmThreshold: intOf(
      'validationFailureAlarmThreshold',
      get('validationFailureAlarmThreshold'),
      1,
      100_000,
    ),
    logRetentionDays: intOf('logRetentionDays', get('logRetentionDays'), 1, 3653),
    nodeClasses: (() => {
      const raw = get('nodeClasses');
      // `-c nodeClasses='[...]'` arrives as a string, cdk.json gives the array itself.
      const parsed = NodeClasses.safeParse(typeof raw === 'string' ? JSON.parse(raw) : raw);
      if (!parsed.success) throw new Error(`context nodeClasses: ${parsed.error.message}`);
      return parsed.data;
    })(),
  };
  if (!LOG_RETENTION_DAYS.includes(settings.logRetentionDays)) {
    throw new Error(
      `context logRetentionDays (${settings.logRetentionDays}): CloudWatch accepts ${LOG_RETENTION_DAYS.join(', ')}`,
    );
  }
  if (settings.gpuMinCapacity > settings.gpuMaxCapacity) {
    throw new Error(
      `context gpuMinCapacity (${settings.gpuMinCapacity}) exceeds gpuMaxCapacity (${settings.gpuMaxCapacity})`,
    );
  }
  if (settings.gpuDiskReservedGiB >= settings.gpuDiskGiB) {
    throw new Error(
      `context gpuDiskReservedGiB (${settings.gpuDiskReservedGiB}) leaves no scratch space on gpuDiskGiB (${settings.gpuDiskGiB})`,
    );
  }
  if (settings.validatorOverheadMiB >= settings.validatorMemoryMiB) {
    throw new Error(
      `context validatorOverheadMiB (${settings.validatorOverheadMiB}) leaves no memory for the model`,
    );
  }
  return settings;
}
