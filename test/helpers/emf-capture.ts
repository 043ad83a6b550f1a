import { vi } from 'vitest';

/** One CloudWatch Embedded Metric Format document, as Powertools Metrics writes it. */
export interface Emf {
  _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] };
  [k: string]: unknown;
}

/**
 * Captures the EMF documents Powertools writes to stdout from now on (other lines are dropped), into the
 * returned array. Undo with `vi.restoreAllMocks()`.
 */
export function captureEmf(): Emf[] {
  const emf: Emf[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    for (const line of String(chunk).split('\n').filter(Boolean)) {
      try {
        const doc = JSON.parse(line) as Emf;
        if (doc._aws) emf.push(doc);
      } catch {
        // a log line that is not JSON
      }
    }
    return true;
  });
  return emf;
}
