import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsBlobStore } from '../../adapters/fs-blobs/fs-blob-store.js';
import { UrlSigner } from '../../adapters/fs-blobs/url-signer.js';
import { LocalValidationQueue } from '../../adapters/local-queue/local-validation-queue.js';
import { openDatabase } from '../../adapters/sqlite/database.js';
import { SqliteMetadataStore } from '../../adapters/sqlite/sqlite-metadata-store.js';
import type { Clock, RegistryDeps, RegistrySettings } from '../../core/ports.js';
import { defaultSettings } from '../../core/ports.js';

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(private t = Date.parse('2026-01-01T00:00:00Z')) {}
  now(): Date {
    return new Date(this.t);
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

export interface TestDeps extends RegistryDeps {
  readonly clock: ManualClock;
  readonly blobs: FsBlobStore;
  readonly queue: LocalValidationQueue;
  readonly enqueued: string[];
  readonly dir: string;
  cleanup(): void;
}

/** Real SQLite (in memory) and a real blob folder in a temp dir: the use cases' unit-test wiring. */
export async function localTestDeps(settings: Partial<RegistrySettings> = {}): Promise<TestDeps> {
  const dir = mkdtempSync(join(tmpdir(), 'modelgate-test-'));
  const db = openDatabase(':memory:');
  const clock = new ManualClock();
  const blobs = new FsBlobStore({
    root: join(dir, 'blobs'),
    signer: new UrlSigner(Buffer.alloc(32, 7)),
    publicUrl: () => 'http://127.0.0.1:1',
    clock,
  });
  await blobs.init();
  const queue = new LocalValidationQueue();
  const enqueued: string[] = [];
  const origEnqueue = queue.enqueue.bind(queue);
  queue.enqueue = async (ref) => {
    enqueued.push(`${ref.model}@${ref.version}`);
    await origEnqueue(ref);
  };
  return {
    metadata: new SqliteMetadataStore(db),
    blobs,
    queue,
    clock,
    settings: { ...defaultSettings, ...settings },
    enqueued,
    dir,
    cleanup() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
