import type { ValidationQueue, VersionRef } from '../../core/ports.js';

/**
 * In-process queue: the versions themselves (status UPLOADED) are the queue, kept in the metadata
 * store, so nothing is lost on a crash. Enqueueing only wakes the local workers so they do not wait
 * for their next poll.
 */
export class LocalValidationQueue implements ValidationQueue {
  private readonly listeners = new Set<() => void>();

  async enqueue(_ref: VersionRef): Promise<void> {
    for (const wake of this.listeners) wake();
  }

  onEnqueue(wake: () => void): () => void {
    this.listeners.add(wake);
    return () => this.listeners.delete(wake);
  }
}
