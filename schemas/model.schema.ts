import { z } from 'zod';
import { ModelName, ProviderName } from './names.schema.js';

/**
 * A model: a name that versions are published under, the provider (group of models) it belongs to, a
 * description, tags, and when it was created (ISO 8601).
 */
export const Model = z.object({
  name: ModelName,
  provider: ProviderName,
  description: z.string().max(2000),
  tags: z.array(z.string().min(1).max(64)).max(50),
  createdAt: z.string(),
});
export type Model = z.infer<typeof Model>;

/** POST /api/v1/models: the name, and optionally the provider (default `default`), description and tags. */
export const CreateModelRequest = z.object({
  name: ModelName,
  provider: ProviderName.default('default'),
  description: z.string().max(2000).default(''),
  tags: z.array(z.string().min(1).max(64)).max(50).default([]),
});
export type CreateModelRequest = z.infer<typeof CreateModelRequest>;
