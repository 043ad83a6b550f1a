import type { CreateModelRequest, Model } from '../schemas/model.schema.js';
import { notFound } from './errors.js';
import type { Page, PageRequest, RegistryDeps } from './ports.js';
import { ensureProvider } from './providers.js';

/**
 * Creates a model (stamped with the clock's time) and records its provider if it is new.
 * @throws RegistryError ALREADY_EXISTS when a model of that name exists.
 */
export async function createModel(deps: RegistryDeps, req: CreateModelRequest): Promise<Model> {
  const model: Model = { ...req, createdAt: deps.clock.now().toISOString() };
  await deps.metadata.createModel(model);
  await ensureProvider(deps, model.provider);
  return model;
}

/**
 * The model called `name`.
 * @throws RegistryError NOT_FOUND when it does not exist.
 */
export async function getModel(deps: RegistryDeps, name: string): Promise<Model> {
  const model = await deps.metadata.getModel(name);
  if (!model) throw notFound(`model ${name}`, { model: name });
  return model;
}

/** One page of models in name order; `page.cursor` continues a listing. */
export function listModels(deps: RegistryDeps, page: PageRequest): Promise<Page<Model>> {
  return deps.metadata.listModels(page);
}
