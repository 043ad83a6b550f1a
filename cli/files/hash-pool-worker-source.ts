/**
 * Source of a `createSha256Pool` thread, run with `new Worker(source, { eval: true })` (a string for the
 * reasons given in hash-worker-source.ts: the same code runs from dist/ and from TS sources).
 *
 * Protocol: workerData = { readBytes }. Each message `{ id, path }` hashes the whole file at `path` (a
 * final symlink is not followed: O_NOFOLLOW) and answers `{ id, size, sha256 }` (hex), or
 * `{ id, error: { code, message } }` on a file-system error. The parent sends a thread one file at a
 * time, and says `{ ready: true }` once it listens. The two read buffers are allocated once and serve every file: double-buffered, the next read
 * runs on the libuv pool while this thread hashes the previous block.
 */
export const HASH_POOL_WORKER_SOURCE = `
Promise.all([import('node:worker_threads'), import('node:crypto'), import('node:fs')]).then(([threads, crypto, fs]) => {
  const { parentPort, workerData } = threads;
  const readBytes = workerData.readBytes;
  const buffers = [Buffer.allocUnsafeSlow(readBytes), Buffer.allocUnsafeSlow(readBytes)];
  const flags = fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0);
  const hashFile = async (path) => {
    const fh = await fs.promises.open(path, flags);
    try {
      const hash = crypto.createHash('sha256');
      let size = 0;
      let current = 0;
      let reading = fh.read(buffers[0], 0, readBytes, 0);
      for (;;) {
        const { bytesRead, buffer } = await reading;
        if (bytesRead === 0) break;
        size += bytesRead;
        current ^= 1;
        reading = fh.read(buffers[current], 0, readBytes, size);
        hash.update(buffer.subarray(0, bytesRead));
      }
      return { size, sha256: hash.digest('hex') };
    } finally {
      await fh.close();
    }
  };
  parentPort.on('message', ({ id, path }) => {
    hashFile(path).then(
      (result) => parentPort.postMessage({ id, ...result }),
      (err) => parentPort.postMessage({ id, error: { code: err && err.code, message: String(err && err.message) } }),
    );
  });
  parentPort.postMessage({ ready: true });
});
`;
