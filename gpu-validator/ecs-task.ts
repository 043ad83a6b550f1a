import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { z } from 'zod';
import { DynamoDbMetadataStore } from '../adapters/dynamodb/dynamodb-metadata-store.js';
import { S3_CLIENT_CHECKSUM_SETTINGS, S3BlobStore } from '../adapters/s3/s3-blob-store.js';
import { type RegistryDeps, systemClock } from '../core/ports.js';
import { registrySettingsOf } from '../core/registry-settings.js';
import { awsRegistryEvents, validatorJobMetrics } from '../lambdas/aws/emf-events.js';
import { RegistryEnv } from '../schemas/config.schema.js';
import { VALIDATOR_EXIT } from '../schemas/validation-task.schema.js';
import { EcsEnvError, parseEnv, readEcsJobEnv, runEcsJob } from './ecs-job.js';

/**
 * Entry point of the gpu-validator container, one AWS Batch job attempt (`node dist/gpu-validator/ecs-task.js`,
 * gpu-validator/Dockerfile): wires DynamoDB and S3 and runs ecs-job.ts. Exit codes (VALIDATOR_EXIT,
 * which the job definition's retry strategy reads): 0 an outcome was recorded (passed or failed) or there
 * was nothing to do; 1 an infrastructure failure, retried; 2 the container is misconfigured (a variable
 * is missing or malformed), which no retry fixes and none is made.
 */

/**
 * The registry settings, under the names every deployment uses (schemas/config.schema.ts); the CDK task
 * definition sets them as on the Lambdas, so the task heartbeats the lease the pre-check claimed.
 */
const SettingsEnv = RegistryEnv;

const log = (event: string, fields: Record<string, unknown>) =>
  console.log(JSON.stringify({ time: new Date().toISOString(), event, ...fields }));

function awsDeps(
  tableName: string,
  bucketName: string,
  settingsEnv: z.infer<typeof SettingsEnv>,
): RegistryDeps {
  // Region and credentials come from the task role; materialize hashes every byte it downloads that
  // neither S3 nor an earlier validation proved (adapters/s3/s3-blob-store.ts).
  const s3 = new S3Client(S3_CLIENT_CHECKSUM_SETTINGS);
  const documents = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  return {
    metadata: new DynamoDbMetadataStore(documents, tableName),
    blobs: new S3BlobStore(s3, bucketName),
    queue: {
      enqueue: async () => {
        throw new Error('the validation task does not start validations');
      },
    },
    clock: systemClock,
    // The verdict this task reaches is counted (EMF on stdout, which CloudWatch Logs extracts) and
    // logged with the same meanings as in the Lambdas: a refusal is `validation_failures`, never `errors`.
    events: awsRegistryEvents(validatorJobMetrics(process.env), {
      info: (message, extra) => log(String(extra.event ?? 'event'), { level: 'info', message, ...extra }),
      error: (message, extra) => log(String(extra.event ?? 'event'), { level: 'error', message, ...extra }),
    }),
    settings: registrySettingsOf(settingsEnv),
  };
}

async function main(): Promise<number> {
  let env: ReturnType<typeof readEcsJobEnv>;
  let settingsEnv: z.infer<typeof SettingsEnv>;
  try {
    env = readEcsJobEnv(process.env, process.argv.slice(2));
    settingsEnv = parseEnv(SettingsEnv, process.env);
  } catch (e) {
    log('validation_task_misconfigured', {
      error: (e as Error).message,
      variables: e instanceof EcsEnvError ? e.variables : [],
    });
    return VALIDATOR_EXIT.misconfigured;
  }
  try {
    const outcome = await runEcsJob(
      awsDeps(env.MODELGATE_TABLE_NAME, env.MODELGATE_BUCKET_NAME, settingsEnv),
      env,
      { log },
    );
    log('validation_task_done', { status: outcome.status });
    return VALIDATOR_EXIT.done;
  } catch (e) {
    if (e instanceof EcsEnvError) {
      log('validation_task_misconfigured', { error: e.message, variables: e.variables });
      return VALIDATOR_EXIT.misconfigured;
    }
    log('validation_task_failed', { error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
    return VALIDATOR_EXIT.infrastructure;
  }
}

process.exitCode = await main();
// Idle SDK sockets or a stray timer must not keep a finished job (and its GPU instance) alive.
setTimeout(() => process.exit(), 10_000).unref();
