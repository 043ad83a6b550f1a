import { deleteAlias, listAliases, setAlias } from '../../core/aliases.js';
import { AliasDeleted, AliasList } from '../../schemas/api.schema.js';
import { AliasName, ModelName } from '../../schemas/names.schema.js';
import { Alias, SetAliasRequest } from '../../schemas/version.schema.js';
import { defineRoute } from '../http/define-route.js';

const aliasParams = { name: ModelName, alias: AliasName };

export const aliasRoutes = [
  defineRoute({
    method: 'GET',
    path: '/api/v1/models/{name}/aliases',
    group: 'aliases',
    role: 'reader',
    summary: 'List aliases of a model',
    params: { name: ModelName },
    response: AliasList,
    run: async ({ deps, params }) => ({ items: await listAliases(deps, params.name) }),
  }),
  defineRoute({
    method: 'PUT',
    path: '/api/v1/models/{name}/aliases/{alias}',
    group: 'aliases',
    role: 'admin',
    summary: 'Point an alias at a VERIFIED version',
    params: aliasParams,
    body: SetAliasRequest,
    response: Alias,
    run: ({ deps, params, body }) => setAlias(deps, params.name, params.alias, body.version),
  }),
  defineRoute({
    method: 'DELETE',
    path: '/api/v1/models/{name}/aliases/{alias}',
    group: 'aliases',
    role: 'admin',
    summary: 'Remove an alias',
    params: aliasParams,
    response: AliasDeleted,
    run: async ({ deps, params }) => {
      await deleteAlias(deps, params.name, params.alias);
      return { deleted: true as const };
    },
  }),
];
