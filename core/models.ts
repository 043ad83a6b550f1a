import type { CreateModelRequest, Model } from '../schemas/model.schema.js';
import { notFound } from './errors.js';
import type { Page, PageRequest, RegistryDeps } from './ports.js';
import { ensureProvider } from './providers.js';

export async function createModel(deps: RegistryDeps, req: CreateModelRequest): Promise<Model> {
  const model: Model = { ...req, createdAt: deps.clock.now().toISOString() };
  await deps.metadata.createModel(model);
  await ensureProvider(deps, model.provider);
  return model;
}

export async function getModel(deps: RegistryDeps, name: string): Promise<Model> {
  const model = await deps.metadata.getModel(name);
  if (!model) throw notFound(`model ${name}`, { model: name });
  return model;
}

export function listModels(deps: RegistryDeps, page: PageRequest): Promise<Page<Model>> {
  return deps.metadata.listModels(page);
}
