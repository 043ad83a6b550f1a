import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalValidationQueue } from '../adapters/local-queue/local-validation-queue.js';
import { fanOutEvents } from '../core/events.js';
import { type RegistryDeps, systemClock } from '../core/ports.js';
import { registrySettingsOf } from '../core/registry-settings.js';
import { Scrubber } from '../core/scrub.js';
import { killLoadChildren } from '../gpu-validator/isolated-load.js';
import type { WorkerPool } from '../gpu-validator/worker-pool.js';
import { type ApiHandler, makeRouteGroupHandler } from '../lambdas/http/make-handler.js';
import { buildOpenApiDocument } from '../lambdas/http/openapi.js';
import { ROUTE_GROUPS, type RouteGroup } from '../lambdas/routes.js';
import type { LocalServerConfig } from '../schemas/config.schema.js';
import { type Authorizer, isLoopback, makeAuthorizer, makeSiteGuard, ownOriginsOf } from './auth.js';
import { awsBackend, embeddedBackend } from './backends.js';
import { acquireLock } from './data-dir.js';
import { DiskSpace } from './disk-space.js';
import { jsonLogger, type Logger } from './log.js';
import { LocalObservability } from './observability.js';
import { PACKAGE_VERSION } from './package-info.js';
import { requestListener } from './request-dispatch.js';
import { openSigner } from './signing-key.js';
import { localWorkerPool } from './validation-workers.js';

/**
 * The embedded server's composition root: wires the embedded adapters (SQLite, blob folder,
 * in-process queue) or the AWS ones to the very same handlers as Lambda, with the worker pool, the
 * scrubber and the operations endpoints. Each part lives in its own file:
 * configuration mapped to registry settings), validation-workers.ts (the pool and its memory
 * heuristics), request-dispatch.ts (the request listener), lambda-context.ts, backends.ts.
 */

export interface RunningServer {
  readonly url: string;
  readonly deps: RegistryDeps;
  readonly pool: WorkerPool;
  close(): Promise<void>;
}

/** Starts the embedded server on MODELGATE_HOST:MODELGATE_PORT; resolves once it serves and its workers run. */
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
  const settings = registrySettingsOf(config);
  // Metrics, event logs, /health, /metrics and the dashboard.
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
    signer: await openSigner(config),
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
  const pool = localWorkerPool(deps, config, log);
  const unsubscribe = queue.onEnqueue(() => pool.wake());
  const openapi = buildOpenApiDocument(PACKAGE_VERSION);
  let ready = false;

  const server = createServer(
    requestListener({
      config,
      deps,
      backend,
      handlers,
      ops,
      disk,
      openapi,
      authorize,
      guardSite,
      log,
      ready: () => ready,
    }),
  );
  // Transfers are limited by idleness, not duration: Node's whole-request limit (300 s) would cut a big
  // upload on a slow link. A socket that moves no byte for the idle time is closed; the JSON API keeps a
  // whole-request limit of its own (limitRequestTime).
  server.requestTimeout = 0;
  server.setTimeout(config.MODELGATE_IDLE_TIMEOUT_MS, (socket) => {
    log('connection_idle', { level: 'warn', idleMs: config.MODELGATE_IDLE_TIMEOUT_MS });
    socket.destroy();
  });

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

export type { Authorizer };
