import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../core/errors.js';
import type { Route } from '../lambdas/routes.js';
import type { LocalServerConfig, TokenRole } from '../schemas/config.schema.js';

/**
 * Who sent a request, as its token proves: `id` is stable across restarts and reveals nothing of the
 * token (`modelgate:ROLE:` and 12 hex digits of the token's SHA-256). A `node` token speaks for a fleet:
 * the node ids its requests carry are sub-identities (see core/load-reports.ts).
 */
export interface Principal {
  readonly id: string;
  readonly role: TokenRole;
}

/** Checks a request against the role its route needs; the principal, or null on an open server. */
export type Authorizer = (req: IncomingMessage, needed: Route['role']) => Principal | null;

/** A node token reads as a reader does; it only differs in how its field reports are counted. */
const RANK: Record<TokenRole, number> = { reader: 0, node: 0, publisher: 1, admin: 2 };
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

export const isLoopback = (host: string): boolean => LOOPBACK.test(host);

/** `modelgate:ROLE:HASH`; a node token's id starts with FLEET_PRINCIPAL_PREFIX. */
export const principalId = (role: TokenRole, token: string): string =>
  `modelgate:${role}:${createHash('sha256').update(token).digest('hex').slice(0, 12)}`;

/**
 * With MODELGATE_TOKENS set, every API request needs a bearer token of a role at least the route's:
 * reader = node < publisher < admin (the AWS managed policies' roles, plus `node` for fleets). Without
 * tokens the server must be on loopback, and trusts its machine as a local tool does.
 */
export function makeAuthorizer(config: LocalServerConfig): Authorizer {
  const tokens = (config.MODELGATE_TOKENS ?? []).map((t) => ({
    ...t,
    bytes: Buffer.from(t.token),
    id: principalId(t.role, t.token),
  }));
  if (tokens.length === 0) {
    if (isLoopback(config.MODELGATE_HOST)) return () => null;
    throw new Error(
      `configuration: MODELGATE_TOKENS is required when binding to ${config.MODELGATE_HOST} (role=token pairs, e.g. admin=<32 random chars>)`,
    );
  }
  return (req, needed) => {
    const header = req.headers.authorization ?? '';
    const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
    // Compare against every token, so the time taken does not say which one (or whether any) matched.
    let holder: (typeof tokens)[number] | undefined;
    for (const t of tokens)
      if (t.bytes.length === given.length && timingSafeEqual(t.bytes, given)) holder ??= t;
    if (!holder)
      throw new RegistryError('UNAUTHORIZED', 'a valid bearer token is required (Authorization: Bearer …)');
    if (RANK[holder.role] < RANK[needed])
      throw new RegistryError(
        'FORBIDDEN',
        `this route needs the ${needed} role; the token has ${holder.role}`,
      );
    return { id: holder.id, role: holder.role };
  };
}

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Cross-site request guard of the API. A web page the operator visits can make the browser send a
 * request to the loopback server (a `text/plain` POST needs no preflight), or rebind its own host name
 * to 127.0.0.1. So:
 * - a state-changing request whose `Origin` is not one of the server's own origins, or that a browser
 *   marks `Sec-Fetch-Site: cross-site|same-site`, is refused, 403 FORBIDDEN (field `origin`); the CLI
 *   sends neither header, and the dashboard is served by this server;
 * - on loopback, a request whose `Host` is not one of the server's own names is refused, 403 (field
 *   `host`): that is what DNS rebinding looks like. On other addresses bearer tokens are required, which
 *   a browser never attaches on its own.
 * `ownOrigins`: e.g. `http://127.0.0.1:8080`, `http://localhost:8080` and MODELGATE_PUBLIC_URL's origin.
 */
export function makeSiteGuard(options: {
  readonly loopback: boolean;
  readonly ownOrigins: () => readonly string[];
}): (req: IncomingMessage) => void {
  // The host names of the own origins, parsed once per list (the list is set once, at listen). The Host
  // check defends against DNS rebinding, which is about the name: the port is left out so that a client
  // behind a local port forward (ssh -L, kubectl port-forward) still reaches the server.
  let parsed: { origins: readonly string[]; hosts: Set<string> } | undefined;
  const hostsOf = (origins: readonly string[]) => {
    if (parsed?.origins !== origins)
      parsed = { origins, hosts: new Set(origins.map((o) => new URL(o).hostname)) };
    return parsed.hosts;
  };
  return (req) => {
    const own = options.ownOrigins();
    if (options.loopback) {
      const host = req.headers.host ?? '';
      if (!hostsOf(own).has(hostnameOf(host)))
        throw new RegistryError('FORBIDDEN', `host: ${JSON.stringify(host)} is not this server's own name`, {
          field: 'host',
        });
    }
    if (!STATE_CHANGING.has(req.method ?? '')) return;
    // A browser that sends no Origin still says where the request comes from in Sec-Fetch-Site.
    const site = req.headers['sec-fetch-site'];
    if (site === 'cross-site' || site === 'same-site')
      throw new RegistryError(
        'FORBIDDEN',
        `origin: a ${req.method} from another site (Sec-Fetch-Site: ${site}) is refused`,
        { field: 'origin' },
      );
    const origin = req.headers.origin;
    if (origin !== undefined && !own.includes(origin.toLowerCase()))
      throw new RegistryError(
        'FORBIDDEN',
        `origin: a ${req.method} from ${JSON.stringify(origin)} is refused: only this server's own pages and clients that send no Origin (the CLI) may change state`,
        { field: 'origin' },
      );
  };
}

/** The lower-case host name of a Host header (`name:port`, `[::1]:port`); '' when it does not parse. */
function hostnameOf(host: string): string {
  try {
    return new URL(`http://${host}`).hostname;
  } catch {
    return '';
  }
}

/** The origins a client of a server listening at `address`:`port` may use, by name and by address. */
export function ownOriginsOf(boundHost: string, port: number, publicUrl: string | undefined): string[] {
  const hosts = new Set([boundHost.includes(':') ? `[${boundHost}]` : boundHost]);
  if (isLoopback(boundHost)) for (const h of ['localhost', '127.0.0.1', '[::1]']) hosts.add(h);
  const origins = [...hosts].map((h) => new URL(`http://${h}:${port}`).origin);
  if (publicUrl) origins.push(new URL(publicUrl).origin);
  return origins;
}
