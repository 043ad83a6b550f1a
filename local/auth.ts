import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../core/errors.js';
import type { Route } from '../lambdas/routes.js';
import type { LocalServerConfig } from '../schemas/config.schema.js';

export type Authorizer = (req: IncomingMessage, needed: Route['role']) => void;

const RANK: Record<Route['role'], number> = { reader: 0, publisher: 1, admin: 2 };
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/**
 * On loopback the server trusts its machine, as a local tool does. Bound to any other address it
 * requires bearer tokens with the same three roles as the AWS managed policies: reader < publisher < admin.
 */
export function makeAuthorizer(config: LocalServerConfig): Authorizer {
  if (LOOPBACK.test(config.MODELGATE_HOST)) return () => {};
  const tokens = config.MODELGATE_TOKENS ?? [];
  if (tokens.length === 0)
    throw new Error(
      `configuration: MODELGATE_TOKENS is required when binding to ${config.MODELGATE_HOST} (role=token pairs, e.g. admin=<32 random chars>)`,
    );
  return (req, needed) => {
    const header = req.headers.authorization ?? '';
    const given = Buffer.from(header.startsWith('Bearer ') ? header.slice(7) : '');
    const holder = tokens.find((t) => {
      const expected = Buffer.from(t.token);
      return expected.length === given.length && timingSafeEqual(expected, given);
    });
    if (!holder)
      throw new RegistryError('UNAUTHORIZED', 'a valid bearer token is required (Authorization: Bearer …)');
    if (RANK[holder.role] < RANK[needed])
      throw new RegistryError(
        'FORBIDDEN',
        `this route needs the ${needed} role; the token has ${holder.role}`,
      );
  };
}
