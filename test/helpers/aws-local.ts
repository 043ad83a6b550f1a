import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  CreateTableCommand,
  DeleteTableCommand,
  DynamoDBClient,
  ListTablesCommand,
} from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { metadataTableDefinition } from '../../adapters/dynamodb/dynamodb-metadata-store.js';
import { S3_CLIENT_CHECKSUM_SETTINGS } from '../../adapters/s3/s3-blob-store.js';
import { requireProgram } from './system-programs.js';

/**
 * Real local AWS endpoints for contract tests: DynamoDB Local (AWS's own emulator, a Java process) and
 * s3rver (in-process). Both listen on 127.0.0.1 on a free port; the clients returned are configured
 * for them. Start one of each per test file (beforeAll): DynamoDB Local costs seconds of JVM startup.
 */

const region = 'us-east-1';
// DynamoDB Local namespaces tables by access key; s3rver only knows its built-in S3RVER key pair.
const dynamoCredentials = { accessKeyId: 'modelgate', secretAccessKey: 'modelgate' };
const s3rverCredentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface DynamoDbLocal {
  readonly endpoint: string;
  readonly client: DynamoDBClient;
  readonly doc: DynamoDBDocumentClient;
  /** Creates a metadata table with the production key schema under a fresh name; returns the name. */
  createMetadataTable(): Promise<string>;
  deleteTable(name: string): Promise<void>;
  /** Milliseconds from spawn to the first successful request. */
  readonly startupMs: number;
  stop(): Promise<void>;
}

const emulatorDir = (): string => {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('amplify-dynamodb-simulator/package.json')), 'emulator');
};

let tableCounter = 0;

/** `heapMb`: the emulator keeps every item in its heap; benchmarks that load 100k versions need more. */
export async function startDynamoDbLocal(options: { heapMb?: number } = {}): Promise<DynamoDbLocal> {
  const started = Date.now();
  const port = await freePort();
  const dir = emulatorDir();
  const child = spawn(
    requireProgram('java'),
    [
      // Startup flags: a short-lived test server gains nothing from the optimizing JIT tiers.
      '-XX:TieredStopAtLevel=1',
      '-Xss1m',
      `-Xmx${options.heapMb ?? 256}m`,
      `-Djava.library.path=${join(dir, 'DynamoDBLocal_lib')}`,
      '-jar',
      join(dir, 'DynamoDBLocal.jar'),
      '-inMemory',
      // One database whatever the caller's access key: a server under test signs with its own.
      '-sharedDb',
      '-disableTelemetry', // no network here, and tests must not phone home
      '-port',
      String(port),
    ],
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output: string[] = [];
  child.stdout?.on('data', (d: Buffer) => output.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => output.push(d.toString()));
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new DynamoDBClient({ endpoint, region, credentials: dynamoCredentials, maxAttempts: 1 });
  try {
    await waitUntilAnswering(child, client, output);
  } catch (e) {
    client.destroy();
    child.kill('SIGKILL');
    throw e;
  }
  const doc = DynamoDBDocumentClient.from(client);
  return {
    endpoint,
    client,
    doc,
    startupMs: Date.now() - started,
    async createMetadataTable() {
      tableCounter += 1;
      const name = `modelgate-${process.pid}-${tableCounter}`;
      await client.send(new CreateTableCommand(metadataTableDefinition(name)));
      return name;
    },
    async deleteTable(name) {
      await client.send(new DeleteTableCommand({ TableName: name }));
    },
    async stop() {
      client.destroy();
      await stopChild(child);
    },
  };
}

async function waitUntilAnswering(
  child: ChildProcess,
  client: DynamoDBClient,
  output: string[],
): Promise<void> {
  let exited: string | undefined;
  child.once('error', (e: NodeJS.ErrnoException) => {
    exited =
      e.code === 'ENOENT'
        ? 'java was not found on PATH: DynamoDB Local needs a Java runtime (17 is verified here). Install a JRE, e.g. `apt-get install openjdk-17-jre-headless`.'
        : `could not start java: ${e.message}`;
  });
  child.once('exit', (code, signal) => {
    exited ??= `DynamoDB Local exited early (code ${code}, signal ${signal}): ${output.join('').slice(-2000)}`;
  });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (exited) throw new Error(exited);
    try {
      await client.send(new ListTablesCommand({ Limit: 1 }));
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`DynamoDB Local did not answer within 60 s: ${output.join('').slice(-2000)}`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

export interface S3Local {
  readonly endpoint: string;
  readonly client: S3Client;
  readonly bucket: string;
  stop(): Promise<void>;
}

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}

/** s3rver in this process, storing into a fresh temporary folder, with one bucket created. */
export async function startS3rver(bucket = 'modelgate-test'): Promise<S3Local> {
  const directory = await mkdtemp(join(tmpdir(), 's3rver-'));
  const port = await freePort();
  // s3rver ships no type declarations; the two methods used here are typed above.
  const { default: S3rver } = (await import('s3rver' as string)) as {
    default: new (options: Record<string, unknown>) => S3rverInstance;
  };
  const server = new S3rver({ address: '127.0.0.1', port, directory, silent: true });
  await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region,
    credentials: s3rverCredentials,
    forcePathStyle: true,
    // With the SDK's default (WHEN_SUPPORTED) the SDK sends aws-chunked streaming bodies with trailing
    // checksums that s3rver stores verbatim, i.e. corrupted; and presigned URLs would carry a CRC32 of nothing.
    ...S3_CLIENT_CHECKSUM_SETTINGS,
  });
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    endpoint,
    client,
    bucket,
    async stop() {
      client.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
