import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freemem } from 'node:os';
import { join } from 'node:path';
import { LocalValidationQueue } from '../adapters/local-queue/local-validation-queue.js';
import { RegistryError } from '../core/errors.js';
import { defaultMemoryBudget, estimateValidationBytes } from '../core/memory-fit.js';
import { defaultSettings, type RegistryDeps, type RegistrySettings, systemClock } from '../core/ports.js';
import { runValidation } from '../gpu-validator/run-validation.js';
import { WorkerPool } from '../gpu-validator/worker-pool.js';
import { errorResponse } from '../lambdas/http/errors-middleware.js';
import { type ApiHandler, makeRouteGroupHandler } from '../lambdas/http/make-handler.js';
import { buildOpenApiDocument } from '../lambdas/http/openapi.js';
import { OPEN_PRINCIPAL } from '../lambdas/http/principal.js';
import { ROUTE_GROUPS, type RouteGroup } from '../lambdas/routes.js';
import type { LocalServerConfig } from '../schemas/config.schema.js';
import { type Authorizer, isLoopback, makeAuthorizer, makeSiteGuard, ownOriginsOf } from './auth.js';
import { awsBackend, embeddedBackend } from './backends.js';
import { handleBlobRequest, isBlobPath } from './blob-endpoint.js';
import { acquireLock } from './data-dir.js';
import { matchRoute, toApiGatewayEvent } from './http-event.js';
import { jsonLogger, type Logger } from './log.js';
import { LocalOperations } from './operations.js';
import { PACKAGE_VERSION } from './package-info.js';

const MAX_JSON_BODY = 16 * 1024 * 1024;
const NO_BODY = Buffer.alloc(0);
/** onnxruntime-node's resident memory in an empty child, measured here at about 60 MiB; rounded up. */
const RUNTIME_BASELINE_ESTIMATE = 100 * 1024 * 1024;

export interface RunningServer {
  readonly url: string;
  readonly deps: RegistryDeps;
  readonly pool: WorkerPool;
  close(): Promise<void>;
}

/** Wires the embedded adapters (SQLite, blob folder, in-process queue) to the very same handlers as Lambda. */
export async function startLocalServer(
  config: LocalServerConfig,
  log: Logger = jsonLogger(),
): Promise<RunningServer> {
  const dataDir = config.MODELGATE_DATA_DIR;
  const releaseLock = acquireLock(dataDir);
  const authorize = makeAuthorizer(config);
  let publicUrl = config.MODELGATE_PUBLIC_URL ?? '';
  let ownOrigins: string[] = [];
  const guardSite = makeSiteGuard({
    loopback: isLoopback(config.MODELGATE_HOST),
    ownOrigins: () => ownOrigins,
  });
  const backend =
    config.MODELGATE_BACKEND === 'aws'
      ? await awsBackend(config)
      : await embeddedBackend(dataDir, () => publicUrl);
  const { blobs } = backend;
  const queue = new LocalValidationQueue();
  const settings: RegistrySettings = {
    ...defaultSettings,
    urlTtlSeconds: config.MODELGATE_URL_TTL_SECONDS,
    leaseMs: config.MODELGATE_LEASE_MS,
    maxValidationAttempts: config.MODELGATE_MAX_ATTEMPTS,
    defaultMemoryBudgetBytes:
      config.MODELGATE_MEMORY_BUDGET ??
      defaultMemoryBudget(config.MODELGATE_NODE_CLASSES, defaultSettings.defaultMemoryBudgetBytes),
    nodeClasses: config.MODELGATE_NODE_CLASSES,
    operations: LocalOperations.settingsOf(config),
  };
  // Metrics, event logs, /health, /metrics and the dashboard (issue 5).
  const ops = new LocalOperations(config, log);
  const deps: RegistryDeps = {
    metadata: backend.metadata,
    blobs,
    queue,
    clock: systemClock,
    settings,
    events: ops.events,
  };
  const handlers = new Map<RouteGroup, ApiHandler>(
    ROUTE_GROUPS.map((g) => [
      g,
      makeRouteGroupHandler(g, deps, ({ message, error, routeKey }) =>
        log('http_error', {
          level: 'error',
          message,
          routeKey,
          error: String((error as Error)?.stack ?? error),
        }),
      ),
    ]),
  );
  const pool = new WorkerPool(deps, {
    workers: config.MODELGATE_WORKERS,
    id: `local-${process.pid}-${randomBytes(3).toString('hex')}`,
    validate: (version, worker) =>
      runValidation(version, {
        blobs,
        scratchDir: join(dataDir, 'scratch'),
        worker,
        memoryBudgetBytes: settings.defaultMemoryBudgetBytes,
        timeoutMs: config.MODELGATE_VALIDATION_TIMEOUT_MS,
      }),
    memory: {
      // What the machine has free at start, less a quarter for the server itself and the page cache.
      capacityBytes: Math.floor(freemem() * 0.75),
      estimateBytes: (v) =>
        estimateValidationBytes(
          v,
          v.memoryBudgetBytes ?? settings.defaultMemoryBudgetBytes,
          RUNTIME_BASELINE_ESTIMATE,
        ),
    },
    log,
  });
  const unsubscribe = queue.onEnqueue(() => pool.wake());
  const openapi = buildOpenApiDocument(PACKAGE_VERSION);
  let ready = false;

  const server = createServer((req, res) => {
    const started = performance.now();
    res.once('finish', () => {
      const path = new URL(req.url ?? '/', 'http://local').pathname;
      const method = req.method ?? 'GET';
      ops.metrics.observeHttp(
        ops.routeLabel(method, path),
        method,
        res.statusCode,
        (performance.now() - started) / 1000,
      );
    });
    handle(req, res).catch((error) => {
      if (!(error instanceof RegistryError) || error.code === 'INTERNAL')
        log('http_error', {
          level: 'error',
          // The path only: a blob URL's query is its signature.
          path: (req.url ?? '/').split('?')[0],
          error: String((error as Error)?.stack ?? error),
        });
      sendResult(res, errorResponse(error));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    if (await ops.handle(req, res, url, ready)) return;
    if (url.pathname === '/api/v1/openapi.json' && req.method === 'GET') {
      sendJson(res, 200, openapi);
      return;
    }
    if (backend.blobEndpoint && isBlobPath(url.pathname)) {
      await handleBlobRequest(req, res, url, { ...backend.blobEndpoint, clock: systemClock });
      return;
    }
    const match = matchRoute(req.method ?? 'GET', url.pathname);
    if (!match)
      throw new RegistryError('NOT_FOUND', `no route for ${req.method} ${url.pathname}`, {
        path: url.pathname,
      });
    guardSite(req);
    const principal = authorize(req, match.route.role);
    // A GET carries no body: skip reading an empty stream on the hottest route (resolve).
    const body = req.method === 'GET' || req.method === 'HEAD' ? NO_BODY : await readBody(req);
    const event = toApiGatewayEvent(req, url, body, match, principal?.id ?? OPEN_PRINCIPAL);
    const result = await handlers.get(match.route.group)!(
      event,
      lambdaContext(event.requestContext.requestId),
    );
    sendResult(res, result);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.MODELGATE_PORT, config.MODELGATE_HOST, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  publicUrl ||= `http://${host}:${address.port}`;
  ownOrigins = ownOriginsOf(config.MODELGATE_HOST, address.port, publicUrl);
  await pool.start();
  await ops.start(deps);
  ready = true;
  log('server_started', {
    url: publicUrl,
    dataDir,
    backend: backend.name,
    workers: config.MODELGATE_WORKERS,
  });

  return {
    url: `http://${host}:${address.port}`,
    deps,
    pool,
    async close() {
      ready = false;
      unsubscribe();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await pool.stop();
      await ops.stop();
      backend.close();
      releaseLock();
    },
  };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_JSON_BODY)
      throw new RegistryError('PAYLOAD_TOO_LARGE', `body: larger than ${MAX_JSON_BODY} bytes`, {
        field: 'body',
      });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function sendResult(
  res: ServerResponse,
  result: { statusCode?: number; headers?: Record<string, unknown>; body?: string },
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers = Object.fromEntries(Object.entries(result.headers ?? {}).map(([k, v]) => [k, String(v)]));
  // An error answered before the request body was read: close the connection rather than read the rest.
  if ((result.statusCode ?? 200) >= 400) headers.connection = 'close';
  res.writeHead(result.statusCode ?? 200, headers).end(result.body ?? '');
}

/** The parts of a Lambda context the handlers may read. */
function lambdaContext(requestId: string) {
  return {
    awsRequestId: requestId,
    functionName: 'modelgate-local',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:local:000000000000:function:modelgate-local',
    memoryLimitInMB: '0',
    logGroupName: 'local',
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => 30_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

export type { Authorizer };
