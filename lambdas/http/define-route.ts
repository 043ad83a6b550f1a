import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { ZodType, z } from 'zod';
import type { RegistryDeps } from '../../core/ports.js';
import { assertJsonBody, parseBody, parseQuery, parseWith } from './parse.js';

/** The route groups: one Lambda (and one IAM execution role) per group on AWS. */
export const ROUTE_GROUPS = ['models', 'versions', 'aliases', 'downloads', 'operations'] as const;
export type RouteGroup = (typeof ROUTE_GROUPS)[number];

/** What API Gateway, the local server and IAM need of a route: no schemas, no handler. */
export interface Route {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** API Gateway path syntax: literal segments and `{param}` segments. */
  readonly path: string;
  /** The Lambda that serves it. */
  readonly group: RouteGroup;
  /** Who may call it on AWS (the IAM managed policy that grants it) and locally (the token's role). */
  readonly role: 'reader' | 'publisher' | 'admin';
}

/** `'/a/{name}/b/{version}'` → `'name' | 'version'`. */
export type PathParamNames<P extends string> = P extends `${string}{${infer Name}}${infer Rest}`
  ? Name | PathParamNames<Rest>
  : never;

type Out<S> = S extends ZodType ? z.output<S> : undefined;
type ParamSchemas<P extends string> = { readonly [K in PathParamNames<P>]: ZodType };

export interface RouteInput<PS, B, Q> {
  readonly deps: RegistryDeps;
  /** Each path parameter, parsed by the schema the route declared for it. */
  readonly params: { readonly [K in keyof PS]: Out<PS[K]> };
  readonly body: Out<B>;
  readonly query: Out<Q>;
  readonly event: APIGatewayProxyEventV2;
}

/** A route's whole declaration (table entry, contract for parsing and OpenAPI) and its one use-case call. */
export interface RouteImpl extends Route {
  readonly summary: string;
  readonly params: Readonly<Record<string, ZodType>>;
  readonly body?: ZodType;
  /** The body may be absent: then it is parsed as `{}` (the schema's defaults). */
  readonly bodyOptional?: boolean;
  readonly query?: ZodType;
  readonly response: ZodType;
  /** HTTP status of a success; 200 unless said. */
  readonly status?: number;
  invoke(event: APIGatewayProxyEventV2, deps: RegistryDeps): Promise<unknown>;
}

/** The `{name}` segments of a path, in order. */
export const pathParamNames = (path: string): string[] =>
  [...path.matchAll(/\{([^}/]+)\}/g)].map((m) => m[1]!);

/**
 * Declares a route once. `params` must name a schema for exactly the `{…}` segments of `path` (checked
 * by the compiler and again here, so a typo fails at start-up, not on the first request). On a request,
 * the body and query are parsed first, then each path parameter in path order; the first bad one is
 * a 400 `INVALID_REQUEST` naming the field (lambdas/http/parse.ts).
 */
export function defineRoute<
  P extends string,
  PS extends ParamSchemas<P>,
  B extends ZodType | undefined = undefined,
  Q extends ZodType | undefined = undefined,
>(def: {
  method: Route['method'];
  path: P;
  group: RouteGroup;
  role: Route['role'];
  summary: string;
  params: PS;
  body?: B;
  bodyOptional?: boolean;
  query?: Q;
  response: ZodType;
  status?: number;
  run: (input: RouteInput<PS, B, Q>) => Promise<unknown>;
}): RouteImpl {
  const { run, ...contract } = def;
  const names = pathParamNames(def.path);
  const declared = Object.keys(def.params);
  if (names.length !== declared.length || names.some((n) => !declared.includes(n)))
    throw new Error(
      `route ${def.method} ${def.path}: params declare [${declared.join(', ')}], the path has [${names.join(', ')}]`,
    );
  const schemas = def.params as Record<string, ZodType>;
  return {
    ...contract,
    invoke: (event, deps) => {
      assertJsonBody(event);
      const body = (def.body ? parseBody(def.body, event, def.bodyOptional) : undefined) as Out<B>;
      const query = (def.query ? parseQuery(def.query, event) : undefined) as Out<Q>;
      const params = Object.fromEntries(
        names.map((name) => [name, parseWith(schemas[name]!, event.pathParameters?.[name], name)]),
      ) as RouteInput<PS, B, Q>['params'];
      return run({ deps, event, body, query, params });
    },
  };
}
