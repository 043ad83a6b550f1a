import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { isFullCollection, isYoungCollection } from '../helpers/gc-trace.js';
import { writeRandomFile } from '../helpers/random-file.js';
import { shebangNodeFlags } from '../helpers/shebang-flags.js';
import { CLI, cli, removeDir, startServer, tempDir } from './harness.js';

const MiB = 1024 * 1024;
/** Long enough for V8 to recompute a quiet server's heap limits from its idle allocation rate. */
const IDLE_MS = 10_000;
const UPLOAD_MiB = 256;

const fullCollections = (logs: readonly string[]) => logs.filter(isFullCollection).length;
/** An upload always runs some: their lines prove the trace is read at all. */
const scavenges = (logs: readonly string[]) => logs.filter(isYoungCollection).length;

// The server as `modelgate serve` and `npm start` run it: with the CLI's shebang flags. Each body chunk
// Node's HTTP parser hands over is a fresh 64 KiB buffer counted against V8's old-generation limit until
// a collection frees it; without a floor on that limit, a server that had sat idle ran a full collection
// every ~16 MiB it received (~15 for this upload, against 0–2 with the floor).
describe('a registry that has sat idle receives an upload', () => {
  const dir = tempDir();
  afterAll(() => removeDir(dir));

  it(`without a full collection every few MiB (${UPLOAD_MiB} MiB, after ${IDLE_MS / 1000} s idle)`, async () => {
    const file = join(dir, 'weights.bin');
    await writeRandomFile(file, UPLOAD_MiB * MiB);
    const server = await startServer({ nodeFlags: [...(await shebangNodeFlags(CLI)), '--trace-gc'] });
    try {
      await sleep(IDLE_MS);
      const before = { full: fullCollections(server.logs), young: scavenges(server.logs) };
      const published = await cli(['publish', 'heap@1.0.0', file], server.env);
      expect(published.code, published.stderr).toBe(0);
      expect(scavenges(server.logs) - before.young).toBeGreaterThan(0);
      expect(fullCollections(server.logs) - before.full).toBeLessThanOrEqual(3);
    } finally {
      await server.stop();
    }
  }, 120_000);
});
