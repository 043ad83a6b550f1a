import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freemem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalValidationQueue } from '../adapters/local-queue/local-validation-queue.js';
import { RegistryError } from '../core/errors.js';
import { fanOutEvents } from '../core/events.js';
import { registryHealth } from '../core/health.js';
import { defaultMemoryBudget, estimateValidationBytes } from '../core/memory-fit.js';
import { defaultSettings, type RegistryDeps, type RegistrySettings, systemClock } from '../core/ports.js';
import { Scrubber } from '../core/scrub.js';
import { killLoadChildren } from '../gpu-validator/isolated-load.js';
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
import { DiskSpace } from './disk-space.js';
import { matchRoute, toApiGatewayEvent } from './http-event.js';
import { jsonLogger, type Logger } from './log.js';
import { LocalObservability } from './observability.js';
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
  const releaseLock = await acquireLock(dataDir);
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
    operations: LocalObservability.settingsOf(config),
  };
  // Metrics, event logs, /health, /metrics and the dashboard (issue 5).
  const ops = new LocalObservability(config, log);
  const disk = new DiskSpace(dataDir);
  const scrubber = new Scrubber(
    { blobs, metadata: backend.metadata, clock: systemClock },
    {
      sleep: (ms) => sleep(ms),
      monotonicMs: () => performance.now(),
      defaultBytesPerSecond: config.MODELGATE_SCRUB_BYTES_PER_SECOND,
      onError: (e) => log('scrub_failed', { level: 'error', error: String((e as Error)?.stack ?? e) }),
    },
  );
  const deps: RegistryDeps = {
    metadata: backend.metadata,
    blobs,
    queue,
    clock: systemClock,
    settings,
    events: fanOutEvents(
      [
        ops.events,
        {
          // A node read bytes that do not hash right: re-hash our copy now rather than at the next scrub.
          fieldReportReceived: ({ version, report }) => {
            if (report.code !== 'CHECKSUM_MISMATCH') return;
            scrubber
              .checkNow(version.files)
              .catch((e) => log('blob_check_failed', { level: 'error', error: String(e) }));
          },
        },
      ],
      (e) => log('event_sink_error', { level: 'error', error: String(e) }),
    ),
    scrub: scrubber,
  };
  const handlers = new Map<RouteGroup, ApiHandler>(
    ROUTE_GROUPS.map((g) => [
      g,
      makeRouteGroupHandler(g, deps, ({ level, message, error, routeKey, code }) => {
        disk.note(error);
        if (level === 'warn') log('request_refused', { level, message, code, routeKey });
        else log('http_error', { level, message, routeKey, error: String((error as Error)?.stack ?? error) });
      }),
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
    limitRequestTime(req, res);
    handle(req, res).catch((error) => {
      disk.note(error);
      if (error instanceof URIError)
        error = new RegistryError('INVALID_REQUEST', `path: malformed %-escape (${error.message})`, {
          field: 'path',
        });
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
  // Transfers are limited by idleness, not duration: Node's whole-request limit (300 s) would cut a big
  // upload on a slow link. A socket that moves no byte for the idle time is closed; the JSON API keeps a
  // whole-request limit of its own (limitRequestTime).
  server.requestTimeout = 0;
  server.setTimeout(config.MODELGATE_IDLE_TIMEOUT_MS, (socket) => {
    log('connection_idle', { level: 'warn', idleMs: config.MODELGATE_IDLE_TIMEOUT_MS });
    socket.destroy();
  });

  /** Cuts a JSON API request that takes longer than MODELGATE_REQUEST_TIMEOUT_MS in all (not blobs). */
  function limitRequestTime(req: IncomingMessage, res: ServerResponse): void {
    if (isBlobPath((req.url ?? '/').split('?')[0]!)) return;
    const timer = setTimeout(() => {
      if (res.headersSent) {
        req.socket.destroy();
        return;
      }
      res.setHeader('connection', 'close');
      sendJson(res, 408, {
        error: {
          code: 'TIMEOUT',
          message: `the request took longer than ${config.MODELGATE_REQUEST_TIMEOUT_MS} ms`,
        },
      });
    }, config.MODELGATE_REQUEST_TIMEOUT_MS);
    timer.unref();
    res.once('close', () => clearTimeout(timer));
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    if (url.pathname === '/health' && (req.method === 'GET' || req.method === 'HEAD') && ready) {
      const fullSince = await disk.fullAt();
      if (fullSince) {
        const { providers } = await registryHealth(deps);
        sendJson(res, 200, {
          status: 'degraded',
          version: PACKAGE_VERSION,
          providers,
          disk: { status: 'full', since: fullSince },
        });
        return;
      }
    }
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
    checkUtf8(body);
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
      await scrubber.stop();
      await ops.stop();
      // Loads in flight die with the server rather than run on for minutes: the store is closed before
      // their (killed) verdicts come back, so none is recorded and each is claimed again after a restart.
      const stopping = pool.stop();
      killLoadChildren();
      backend.close();
      await stopping;
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

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

/** A JSON body must be UTF-8: invalid bytes are refused rather than stored as U+FFFD. */
function checkUtf8(body: Buffer): void {
  try {
    STRICT_UTF8.decode(body);
  } catch {
    throw new RegistryError('INVALID_REQUEST', 'body: not valid UTF-8', { field: 'body' });
  }
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
