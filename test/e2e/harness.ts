import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type S3Local, startDynamoDbLocal, startS3rver } from '../helpers/aws-local.js';
import { listeningUrl } from '../helpers/listening-url.js';
import { needs } from '../helpers/system-programs.js';

const ROOT = join(import.meta.dirname, '..', '..');
export const CLI = join(ROOT, 'dist', 'cli', 'main.js');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built `modelgate` command as a user would, in its own process. */
export function cli(args: string[], env: Record<string, string> = {}, cwd = ROOT): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { ...process.env, ...env },
      stdio: 'pipe',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface ServerHandle {
  readonly url: string;
  readonly dataDir: string;
  readonly process: ChildProcess;
  /** Log lines the server printed (JSON, one per event). */
  readonly logs: string[];
  /** Env for `cli()` calls against this server. */
  readonly env: Record<string, string>;
  /** The aws wiring's bucket (s3rver), for tests that look at what the store wrote there. */
  readonly s3?: Pick<S3Local, 'client' | 'bucket'>;
  stop(): Promise<void>;
  kill9(): Promise<void>;
}

/** The two wirings of the same server: embedded (SQLite + blob folder) and aws (DynamoDB + S3). */
export type Backend = 'embedded' | 'aws';
// The aws wiring needs Java for DynamoDB Local: without it (outside CI) its cases are left out, with a note.
export const BACKENDS: readonly Backend[] = needs(['java']).skip ? ['embedded'] : ['embedded', 'aws'];

/**
 * The aws wiring on this machine: DynamoDB Local and s3rver on loopback, a fresh table, and the env that
 * points `modelgate serve` at them (DynamoDB Local runs with -sharedDb; s3rver knows only its own key).
 */
async function awsEnvironment(): Promise<{
  env: Record<string, string>;
  s3: S3Local;
  stop(): Promise<void>;
}> {
  const dynamo = await startDynamoDbLocal();
  const s3 = await startS3rver();
  const table = await dynamo.createMetadataTable();
  return {
    s3,
    env: {
      MODELGATE_BACKEND: 'aws',
      MODELGATE_TABLE_NAME: table,
      MODELGATE_BUCKET_NAME: s3.bucket,
      MODELGATE_DYNAMODB_ENDPOINT: dynamo.endpoint,
      MODELGATE_S3_ENDPOINT: s3.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
    },
    async stop() {
      await s3.stop();
      await dynamo.stop();
    },
  };
}

/** Starts `modelgate serve` on a free loopback port with its own data folder, and waits until /health answers. */
export async function startServer(
  options: {
    dataDir?: string;
    args?: string[];
    env?: Record<string, string>;
    backend?: Backend;
    /** Node flags before the script (default none), e.g. the CLI's shebang flags. */
    nodeFlags?: string[];
  } = {},
): Promise<ServerHandle> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'modelgate-e2e-'));
  const aws = options.backend === 'aws' ? await awsEnvironment() : undefined;
  const serve = [CLI, 'serve', '--port', '0', '--data-dir', dataDir, ...(options.args ?? [])];
  const child = spawn(process.execPath, [...(options.nodeFlags ?? []), ...serve], {
    cwd: ROOT,
    env: { ...process.env, ...aws?.env, ...options.env },
    stdio: 'pipe',
  });
  const logs: string[] = [];
  // Whole lines: a line may arrive in two reads.
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (line) logs.push(line);
  });
  const url = await listeningUrl(child).catch(async (e: unknown) => {
    child.kill('SIGKILL');
    await aws?.stop();
    throw e;
  });
  const health = await fetch(`${url}/health`);
  if (health.status !== 200) throw new Error(`health answered ${health.status}`);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url,
    dataDir,
    process: child,
    logs,
    // A new model needs a provider: the tests that are not about providers publish under one.
    env: { MODELGATE_REGISTRY: url, MODELGATE_PROVIDER: 'default' },
    ...(aws ? { s3: aws.s3 } : {}),
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      await aws?.stop();
    },
    async kill9() {
      child.kill('SIGKILL');
      await exited;
      await aws?.stop();
    },
  };
}

export function tempDir(prefix = 'modelgate-e2e-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export const removeDir = (dir: string) => rmSync(dir, { recursive: true, force: true });

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary response fields and assert on them
type ApiJson = Record<string, any>;

export async function api(server: ServerHandle, method: string, path: string, body?: unknown) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as ApiJson) : undefined };
}
