/**
 * Source of the digest worker, run with `new Worker(source, { eval: true })`.
 *
 * Why a string and not a file: the same code must run from compiled `dist/` and from TS sources under
 * vitest/tsx; an eval worker needs no loader and no path resolution. Dynamic `import()` is used
 * because an eval worker is parsed as CommonJS or as ESM depending on the parent's package type.
 *
 * Protocol: workerData = { algorithm, ring: SharedArrayBuffer, slotBytes }. Each message
 * `{ slot, length }` hashes `length` bytes of that ring slot and answers `{ slot }` so the reader can
 * recycle it; `{ slot: -1 }` answers `{ digest }` (hex) and starts a new digest, so one worker hashes
 * file after file. Messages are handled in order.
 */
export const HASH_WORKER_SOURCE = `
Promise.all([import('node:worker_threads'), import('node:crypto')]).then(([threads, crypto]) => {
  const { parentPort, workerData } = threads;
  let hash = crypto.createHash(workerData.algorithm);
  const ring = new Uint8Array(workerData.ring);
  parentPort.on('message', ({ slot, length }) => {
    if (slot < 0) {
      parentPort.postMessage({ digest: hash.digest('hex') });
      hash = crypto.createHash(workerData.algorithm);
      return;
    }
    const start = slot * workerData.slotBytes;
    hash.update(ring.subarray(start, start + length));
    parentPort.postMessage({ slot });
  });
});
`;
