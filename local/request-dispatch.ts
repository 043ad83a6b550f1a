import type { IncomingMessage, ServerResponse } from 'node:http';
import { RegistryError } from '../core/errors.js';
import { registryHealth } from '../core/health.js';
import { type RegistryDeps, systemClock } from '../core/ports.js';
import { errorResponse } from '../lambdas/http/errors-middleware.js';
import type { ApiHandler } from '../lambdas/http/make-handler.js';
import { OPEN_PRINCIPAL } from '../lambdas/http/principal.js';
import type { RouteGroup } from '../lambdas/routes.js';
import type { LocalServerConfig } from '../schemas/config.schema.js';
import type { Authorizer } from './auth.js';
import type { Backend } from './backends.js';
import { handleBlobRequest, isBlobPath } from './blob-endpoint.js';
import type { DiskSpace } from './disk-space.js';
import { matchRoute, toApiGatewayEvent } from './http-event.js';
import { checkUtf8, readBody, sendJson, sendResult } from './http-io.js';
import { lambdaContext } from './lambda-context.js';
import type { Logger } from './log.js';
import type { LocalObservability } from './observability.js';
import { PACKAGE_VERSION } from './package-info.js';

const NO_BODY = Buffer.alloc(0);

/** What the dispatcher sends requests to: built by the composition root (server.ts). */
export interface DispatchParts {
  readonly config: LocalServerConfig;
  readonly deps: RegistryDeps;
  readonly backend: Backend;
  readonly handlers: ReadonlyMap<RouteGroup, ApiHandler>;
  readonly ops: LocalObservability;
  readonly disk: DiskSpace;
  readonly openapi: unknown;
  readonly authorize: Authorizer;
  readonly guardSite: (req: IncomingMessage) => void;
  readonly log: Logger;
  /** False until the server has started (and again once it closes): /health says so. */
  readonly ready: () => boolean;
}

/**
 * The embedded server's request listener: times every request for /metrics, limits JSON API requests
 * to MODELGATE_REQUEST_TIMEOUT_MS, and sends each to /health, the operations endpoints, the OpenAPI
 * document, the signed blob endpoint or, as an API Gateway v2 event, the route group's Lambda handler.
 * Every error becomes the API's error envelope.
 */
export function requestListener(parts: DispatchParts): (req: IncomingMessage, res: ServerResponse) => void {
  const { config, ops, disk, log } = parts;
  return (req, res) => {
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
    limitRequestTime(req, res, config.MODELGATE_REQUEST_TIMEOUT_MS);
    limitUploadRate(req, res, config, log);
    dispatch(parts, req, res).catch((error) => {
      disk.note(error);
      if (error instanceof URIError)
        error = new RegistryError('INVALID_REQUEST', `path: malformed %-escape (${error.message})`, {
          field: 'path',
        });
      // Anyone can close a connection mid-body at will: nothing went wrong here, and at error level with
      // a stack it would let any client flood the error log.
      if (isClientAbort(req, error))
        log('client_aborted', { level: 'info', method: req.method, path: (req.url ?? '/').split('?')[0] });
      else if (!(error instanceof RegistryError) || error.code === 'INTERNAL')
        log('http_error', {
          level: 'error',
          // The path only: a blob URL's query is its signature.
          path: (req.url ?? '/').split('?')[0],
          error: String((error as Error)?.stack ?? error),
        });
      sendResult(res, errorResponse(error));
    });
  };
}

/**
 * Whether `error` is the client leaving before its request's body was in: Node destroys the request with
 * `aborted` (ECONNRESET) when its connection closes early, and the body's reader (readBody, a blob
 * upload) fails with that error. A request the server cut itself (cutWithTimeout) fails with its
 * RegistryError instead, which is not an abort.
 */
export function isClientAbort(req: IncomingMessage, error: unknown): boolean {
  if (error instanceof RegistryError || req.complete || !req.destroyed) return false;
  return error === req.errored || (error as NodeJS.ErrnoException | undefined)?.code === 'ECONNRESET';
}

/** Cuts a JSON API request that takes longer than `limitMs` in all (blob transfers are not limited). */
function limitRequestTime(req: IncomingMessage, res: ServerResponse, limitMs: number): void {
  if (isBlobPath((req.url ?? '/').split('?')[0]!)) return;
  const timer = setTimeout(
    () =>
      cutWithTimeout(req, res, new RegistryError('TIMEOUT', `the request took longer than ${limitMs} ms`)),
    limitMs,
  );
  timer.unref();
  res.once('close', () => clearTimeout(timer));
}

/**
 * Answers 408 with `error`'s envelope and closes the connection; once the answer is out, a body still
 * arriving is dropped by destroying the request itself, so its reader (readBody, the blob store) fails
 * with `error` instead of waiting forever: a request whose answer is finished is no longer aborted by its
 * socket's close. Where an answer has already started, nothing more can be said: the request and its
 * connection are dropped at once (a complete request's destroy leaves its socket open).
 */
function cutWithTimeout(req: IncomingMessage, res: ServerResponse, error: RegistryError): void {
  if (res.headersSent) {
    req.destroy(error);
    req.socket.destroy();
    return;
  }
  res.setHeader('connection', 'close');
  res.once('finish', () => {
    if (!req.complete) req.destroy(error);
  });
  const { code, message, details } = error;
  sendJson(res, 408, { error: { code, message, ...(details ? { details } : {}) } });
}

/**
 * Cuts a blob upload (PUT) that moves fewer than MODELGATE_UPLOAD_MIN_BYTES_PER_SECOND bytes on average
 * over a stretch of MODELGATE_IDLE_TIMEOUT_MS: the idle timeout alone lets a client that sends a byte
 * every minute hold its connection, and a temporary file, for as long as its declared size allows
 * (Apache's `mod_reqtimeout` MinRate, for the same attack). The client gets 408 `TIMEOUT` naming the
 * rate, then the connection closes; the store drops what arrived.
 */
function limitUploadRate(
  req: IncomingMessage,
  res: ServerResponse,
  config: LocalServerConfig,
  log: Logger,
): void {
  const minRate = config.MODELGATE_UPLOAD_MIN_BYTES_PER_SECOND;
  if (minRate === 0 || req.method !== 'PUT' || !isBlobPath((req.url ?? '/').split('?')[0]!)) return;
  const windowMs = config.MODELGATE_IDLE_TIMEOUT_MS;
  const needed = Math.ceil((minRate * windowMs) / 1000);
  let mark = req.socket.bytesRead;
  const timer = setInterval(() => {
    const moved = req.socket.bytesRead - mark;
    mark = req.socket.bytesRead;
    if (req.complete) {
      clearInterval(timer); // the body is in: only the store's work is left
      return;
    }
    if (moved >= needed) return;
    clearInterval(timer);
    log('upload_too_slow', { level: 'warn', bytes: moved, windowMs, minBytesPerSecond: minRate });
    const tooSlow = new RegistryError(
      'TIMEOUT',
      `the upload moved ${moved} bytes in ${windowMs / 1000} s, under the minimum of ${minRate} bytes/s (MODELGATE_UPLOAD_MIN_BYTES_PER_SECOND): send it again over a faster link`,
      { field: 'body', bytes: moved, windowMs, minBytesPerSecond: minRate },
    );
    cutWithTimeout(req, res, tooSlow);
  }, windowMs);
  timer.unref();
  res.once('close', () => clearInterval(timer));
}

/** Whether the request carries a token of at least the reader role (never throws). */
function mayRead(parts: DispatchParts, req: IncomingMessage): boolean {
  try {
    parts.authorize(req, 'reader');
    return true;
  } catch {
    return false;
  }
}

async function dispatch(parts: DispatchParts, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { deps, backend, disk, ops } = parts;
  const url = new URL(req.url ?? '/', 'http://local');
  const ready = parts.ready();
  const blobRequest = backend.blobEndpoint !== undefined && isBlobPath(url.pathname);
  // Every page and endpoint, not only the API: the dashboard, /metrics and /health name every model and
  // provider, which a rebinding page must not read either. Blob URLs carry their own signature.
  if (!blobRequest) parts.guardSite(req);
  // With tokens, what lists the registry needs a reader's token too: /metrics (Prometheus sends one with
  // `authorization`), and /health's details. /health itself stays open, as the runbook's first command
  // and load balancers call it bare: without a token it says only the status and the version.
  const open = (parts.config.MODELGATE_TOKENS ?? []).length === 0;
  if (url.pathname === '/metrics') parts.authorize(req, 'reader');
  const healthDetails = open || (url.pathname === '/health' && mayRead(parts, req));
  if (url.pathname === '/health' && (req.method === 'GET' || req.method === 'HEAD') && ready) {
    const fullSince = await disk.fullAt();
    if (fullSince) {
      const { providers } = await registryHealth(deps);
      sendJson(res, 200, {
        status: 'degraded',
        version: PACKAGE_VERSION,
        ...(healthDetails ? { providers } : {}),
        disk: { status: 'full', since: fullSince },
      });
      return;
    }
  }
  // A browser's navigation never carries a bearer token: with tokens the page comes without its data,
  // which it then reads from the API with the token the operator gives it.
  if (await ops.handle(req, res, url, { ready, embedData: open, healthDetails })) return;
  if (url.pathname === '/api/v1/openapi.json' && req.method === 'GET') {
    sendJson(res, 200, parts.openapi);
    return;
  }
  if (blobRequest) {
    await handleBlobRequest(req, res, url, { ...backend.blobEndpoint!, clock: systemClock });
    return;
  }
  const match = matchRoute(req.method ?? 'GET', url.pathname);
  if (!match)
    throw new RegistryError('NOT_FOUND', `no route for ${req.method} ${url.pathname}`, {
      path: url.pathname,
    });
  const principal = parts.authorize(req, match.route.role);
  // A GET carries no body: skip reading an empty stream on the hottest route (resolve).
  const body = req.method === 'GET' || req.method === 'HEAD' ? NO_BODY : await readBody(req);
  checkUtf8(body);
  const event = toApiGatewayEvent(req, url, body, match, principal?.id ?? OPEN_PRINCIPAL);
  const result = await parts.handlers.get(match.route.group)!(
    event,
    lambdaContext(event.requestContext.requestId),
  );
  sendResult(res, result);
}
