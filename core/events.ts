import type { RegistryDeps, RegistryEvents } from './ports.js';

const ignore = () => {};

/** An events sink that ignores every event: the default where no metrics or logs are wired. */
export const noEvents: RegistryEvents = {
  providerSeen: ignore,
  versionCommitted: ignore,
  validationFinished: ignore,
  fieldReportReceived: ignore,
  versionQuarantined: ignore,
  versionReleased: ignore,
  providerChanged: ignore,
  aliasFellBack: ignore,
};

/** The events sink of `deps`, or `noEvents` when none is wired; never throws. */
export const eventsOf = (deps: Pick<RegistryDeps, 'events'>): RegistryEvents => deps.events ?? noEvents;

/**
 * Sends each event to every sink. A sink that throws is reported to `onError` and does not stop the
 * others: the use case that emitted the event has already happened and must not fail because of it.
 */
export function fanOutEvents(
  sinks: readonly Partial<RegistryEvents>[],
  onError: (e: unknown) => void = ignore,
): RegistryEvents {
  const out = {} as Record<keyof RegistryEvents, (e: unknown) => void>;
  for (const name of Object.keys(noEvents) as (keyof RegistryEvents)[]) {
    out[name] = (event) => {
      for (const sink of sinks) {
        try {
          (sink[name] as ((e: unknown) => void) | undefined)?.call(sink, event);
        } catch (error) {
          onError(error);
        }
      }
    };
  }
  return out as unknown as RegistryEvents;
}

/**
 * The runbook greps `MODEL_LOAD_ERROR|Failed to load model|Model initialization failed` (case-sensitive)
 * to find serving failures. A runtime's own message, quoted as a refused candidate's cause, may hold one
 * of those phrases ("Failed to load model because …"); lower-cased, it reads the same and greps apart.
 */
export function withoutPagingWords(text: string): string {
  return text
    .replaceAll('MODEL_LOAD_ERROR', 'model load error')
    .replaceAll('Failed to load model', 'failed to load model')
    .replaceAll('Model initialization failed', 'model initialization failed');
}
