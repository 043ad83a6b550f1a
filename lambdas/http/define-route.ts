import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import type { ZodType, z } from 'zod';
import type { RegistryDeps } from '../../core/ports.js';
import type { Route } from '../routes.js';
import { assertJsonBody, parseBody, parseQuery, parseWith } from './parse.js';

type Out<S> = S extends ZodType ? z.output<S> : undefined;

export interface RouteInput<B, Q> {
  readonly deps: RegistryDeps;
  readonly body: Out<B>;
  readonly query: Out<Q>;
  /** Validates a path parameter with a schema; a bad one is a 400 naming the parameter. */
  readonly param: <S extends ZodType>(name: string, schema: S) => z.output<S>;
  readonly event: APIGatewayProxyEventV2;
}

/** A route's contract (used for parsing and for the OpenAPI document) and its one use-case call. */
export interface RouteImpl {
  readonly method: Route['method'];
  readonly path: string;
  readonly summary: string;
  readonly params?: Readonly<Record<string, ZodType>>;
  readonly body?: ZodType;
  /** The body may be absent: then it is parsed as `{}` (the schema's defaults). */
  readonly bodyOptional?: boolean;
  readonly query?: ZodType;
  readonly response: ZodType;
  /** HTTP status of a success; 200 unless said. */
  readonly status?: number;
  invoke(event: APIGatewayProxyEventV2, deps: RegistryDeps): Promise<unknown>;
}

export function defineRoute<
  B extends ZodType | undefined = undefined,
  Q extends ZodType | undefined = undefined,
>(def: {
  method: Route['method'];
  path: string;
  summary: string;
  params?: Readonly<Record<string, ZodType>>;
  body?: B;
  bodyOptional?: boolean;
  query?: Q;
  response: ZodType;
  status?: number;
  run: (input: RouteInput<B, Q>) => Promise<unknown>;
}): RouteImpl {
  const { run, ...contract } = def;
  return {
    ...contract,
    invoke: (event, deps) => {
      assertJsonBody(event);
      return run({
        deps,
        event,
        body: (def.body ? parseBody(def.body, event, def.bodyOptional) : undefined) as Out<B>,
        query: (def.query ? parseQuery(def.query, event) : undefined) as Out<Q>,
        param: (name, schema) => parseWith(schema, event.pathParameters?.[name], name),
      });
    },
  };
}
