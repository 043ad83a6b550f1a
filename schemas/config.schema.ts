import { z } from 'zod';
import { NodeClasses } from './node-class.schema.js';

const Bytes = z.coerce.number().int().positive();

/** Parses `role=token,role=token` (roles: reader, publisher, admin). */
const Tokens = z
  .string()
  .transform((s, ctx) => {
    const tokens: { role: 'reader' | 'publisher' | 'admin'; token: string }[] = [];
    for (const pair of s.split(',').map((p) => p.trim()).filter(Boolean)) {
      const [role, token] = pair.split('=');
      if ((role !== 'reader' && role !== 'publisher' && role !== 'admin') || !token || token.length < 16) {
        ctx.addIssue({ code: 'custom', message: 'expected role=token pairs (reader|publisher|admin, tokens ≥ 16 chars)' });
        return z.NEVER;
      }
      tokens.push({ role, token });
    }
    return tokens;
  });

/**
 * The local server's configuration: CLI flags override environment variables, parsed once at start.
 * A bad value fails with the variable's name.
 */
export const LocalServerConfig = z.object({
  MODELGATE_DATA_DIR: z.string().min(1).default('.modelgate'),
  MODELGATE_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  MODELGATE_HOST: z.string().min(1).default('127.0.0.1'),
  MODELGATE_WORKERS: z.coerce.number().int().min(0).max(64).default(1),
  /** Memory budget of one validation, in bytes: the child is killed past it. */
  MODELGATE_MEMORY_BUDGET: Bytes.optional(),
  /** JSON array of node classes, e.g. [{"name":"cpu-small","memoryBytes":2147483648}]. */
  MODELGATE_NODE_CLASSES: z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be a JSON array of node classes' });
        return z.NEVER;
      }
    })
    .pipe(NodeClasses)
    .default([]),
  /** Per-file load + smoke inference limit. */
  MODELGATE_VALIDATION_TIMEOUT_MS: z.coerce.number().int().positive().default(10 * 60_000),
  MODELGATE_LEASE_MS: z.coerce.number().int().min(1000).default(30_000),
  MODELGATE_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(3),
  MODELGATE_URL_TTL_SECONDS: z.coerce.number().int().min(10).default(3600),
  /** Required when the server binds to a non-loopback address. */
  MODELGATE_TOKENS: Tokens.optional(),
  /** The URL clients reach the server at, for upload/download URLs; default http://HOST:PORT. */
  MODELGATE_PUBLIC_URL: z.url().optional(),
});
export type LocalServerConfig = z.infer<typeof LocalServerConfig>;

export function parseLocalServerConfig(env: Record<string, string | undefined>): LocalServerConfig {
  const result = LocalServerConfig.safeParse(env);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  throw new Error(`configuration: ${issue.path.join('.')}: ${issue.message}`);
}
