import { z } from 'zod';

/** A kind of serving node: how much memory it has and which execution providers it runs. */
export const NodeClass = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/),
  memoryBytes: z.number().int().positive(),
  gpuMemoryBytes: z.number().int().positive().optional(),
  executionProviders: z.array(z.string().min(1)).min(1).default(['cpu']),
});
export type NodeClass = z.infer<typeof NodeClass>;

/** The serving node classes a validated version is judged against: at most 100. */
export const NodeClasses = z.array(NodeClass).max(100);

/** Node classes as they come from an environment variable or a file: JSON text of the array above. */
export const NodeClassesJson = z
  .string()
  .transform((raw, ctx) => {
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a JSON array of node classes' });
      return z.NEVER;
    }
  })
  .pipe(NodeClasses);
