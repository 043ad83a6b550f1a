import { createModel, getModel, listModels } from '../../core/models.js';
import { CreateModelRequest, Model } from '../../schemas/model.schema.js';
import { ModelName } from '../../schemas/names.schema.js';
import { ListQuery, Page } from '../../schemas/version.schema.js';
import { defineRoute } from '../http/define-route.js';

export const modelRoutes = [
  defineRoute({
    method: 'GET',
    path: '/api/v1/models',
    group: 'models',
    role: 'reader',
    summary: 'List models by name, paginated by cursor',
    params: {},
    query: ListQuery,
    response: Page(Model),
    run: ({ deps, query }) => listModels(deps, query),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/models',
    group: 'models',
    role: 'publisher',
    summary: 'Create a model',
    params: {},
    body: CreateModelRequest,
    response: Model,
    status: 201,
    run: ({ deps, body }) => createModel(deps, body),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/models/{name}',
    group: 'models',
    role: 'reader',
    summary: 'Get a model',
    params: { name: ModelName },
    response: Model,
    run: ({ deps, params }) => getModel(deps, params.name),
  }),
];
