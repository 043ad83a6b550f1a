import { z } from 'zod';
import { deleteAlias, listAliases, setAlias } from '../../core/aliases.js';
import { AliasName, ModelName } from '../../schemas/names.schema.js';
import { Alias, SetAliasRequest } from '../../schemas/version.schema.js';
import { defineRoute } from '../http/define-route.js';

export const aliasRoutes = [
  defineRoute({
    method: 'GET',
    path: '/api/v1/models/{name}/aliases',
    summary: 'List aliases of a model',
    params: { name: ModelName },
    response: z.object({ items: z.array(Alias) }),
    run: async ({ deps, param }) => ({ items: await listAliases(deps, param('name', ModelName)) }),
  }),
  defineRoute({
    method: 'PUT',
    path: '/api/v1/models/{name}/aliases/{alias}',
    summary: 'Point an alias at a VERIFIED version',
    params: { name: ModelName, alias: AliasName },
    body: SetAliasRequest,
    response: Alias,
    run: ({ deps, param, body }) =>
      setAlias(deps, param('name', ModelName), param('alias', AliasName), body.version),
  }),
  defineRoute({
    method: 'DELETE',
    path: '/api/v1/models/{name}/aliases/{alias}',
    summary: 'Remove an alias',
    params: { name: ModelName, alias: AliasName },
    response: z.object({ deleted: z.literal(true) }),
    run: async ({ deps, param }) => {
      await deleteAlias(deps, param('name', ModelName), param('alias', AliasName));
      return { deleted: true as const };
    },
  }),
];
