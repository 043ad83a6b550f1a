import type { Counter } from 'prom-client';

type Labels<L extends string> = Partial<Record<L, string>>;

/**
 * A counter whose every series is exposed at 0 in at least one scrape before it first counts. Prometheus
 * computes no rate() for a series that is born at 1 (DESIGN.md "Metrics"), so the first MODEL_LOAD_ERROR
 * of a new version would never fire the runbook's alert. A series created in the same moment as its
 * first failure (a truncated file fails validation within a second of its commit, before any scrape)
 * therefore holds its increments until a scrape has shown it at 0; they appear one scrape later.
 */
export class ZeroFirstCounter<L extends string> {
  /** Series shown by a completed scrape: they count at once. */
  private readonly exposed = new Set<string>();
  /** Series created since: at 0 until a scrape shows them. */
  private readonly fresh = new Map<string, Labels<L>>();
  private readonly pending = new Map<string, { labels: Labels<L>; value: number }>();

  constructor(
    private readonly counter: Counter<L>,
    private readonly labelNames: readonly L[],
  ) {}

  private key(labels: Labels<L>): string {
    return this.labelNames.map((n) => labels[n] ?? '').join('\u0000');
  }

  /** Creates the series at 0 if it does not exist yet. */
  init(labels: Labels<L>): void {
    const key = this.key(labels);
    if (this.exposed.has(key) || this.fresh.has(key)) return;
    this.counter.inc(labels, 0);
    this.fresh.set(key, labels);
  }

  inc(labels: Labels<L>, value = 1): void {
    const key = this.key(labels);
    if (this.exposed.has(key)) {
      this.counter.inc(labels, value);
      return;
    }
    this.init(labels);
    const held = this.pending.get(key);
    this.pending.set(key, { labels, value: (held?.value ?? 0) + value });
  }

  /**
   * Call just before rendering: returns what to call once the render is done. Only series that existed
   * when the render began count as shown; one created during an (async) render waits for the next.
   */
  beginScrape(): () => void {
    const shown = [...this.fresh.keys()];
    return () => {
      for (const key of shown) {
        this.fresh.delete(key);
        this.exposed.add(key);
        const held = this.pending.get(key);
        if (held) {
          this.pending.delete(key);
          this.counter.inc(held.labels, held.value);
        }
      }
    };
  }

  /** Total counted so far, held increments included (for tests and the dashboard, not for Prometheus). */
  held(labels: Labels<L>): number {
    return this.pending.get(this.key(labels))?.value ?? 0;
  }
}
