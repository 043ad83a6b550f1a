import { z } from 'zod';
import { ErrorEnvelope } from '../../schemas/error-codes.schema.js';
import { ROUTE_IMPLS } from '../routes.js';
import { HTTP_STATUS } from './error-status.js';

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { io, unrepresentable: 'any', target: 'draft-2020-12' });

/** The OpenAPI 3.1 document, generated from the same zod schemas the handlers parse with. */
export function buildOpenApiDocument(version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const errorStatuses = [...new Set(Object.values(HTTP_STATUS))].sort();
  for (const impl of ROUTE_IMPLS.values()) {
    const parameters = [
      ...Object.entries(impl.params ?? {}).map(([name, schema]) => ({
        name,
        in: 'path',
        required: true,
        schema: jsonSchema(schema, 'input'),
      })),
      ...Object.entries((impl.query as z.ZodObject | undefined)?.shape ?? {}).map(([name, schema]) => ({
        name,
        in: 'query',
        required: false,
        schema: jsonSchema(schema as z.ZodType, 'input'),
      })),
    ];
    paths[impl.path] ??= {};
    paths[impl.path]![impl.method.toLowerCase()] = {
      summary: impl.summary,
      tags: [impl.group],
      // Who may call it: the IAM managed policy on AWS, the token's role on the local server.
      'x-modelgate-role': impl.role,
      parameters,
      ...(impl.body
        ? {
            requestBody: {
              required: !impl.bodyOptional,
              content: { 'application/json': { schema: jsonSchema(impl.body, 'input') } },
            },
          }
        : {}),
      responses: {
        [String(impl.status ?? 200)]: {
          description: 'success',
          content: { 'application/json': { schema: jsonSchema(impl.response, 'output') } },
        },
        ...Object.fromEntries(
          errorStatuses.map((s) => [
            String(s),
            {
              description: 'error',
              content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorEnvelope' } } },
            },
          ]),
        ),
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'modelgate',
      version,
      description: 'A model registry that only serves models proven to load.',
    },
    paths,
    components: { schemas: { ErrorEnvelope: jsonSchema(ErrorEnvelope, 'output') } },
  };
}
