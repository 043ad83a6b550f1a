/**
 * Source of a `createSha256Pool` thread, run with `new Worker(source, { eval: true })`. Why a string and
 * not a file: the same code must run from compiled `dist/` and from TS sources under vitest/tsx; an eval
 * worker needs no loader and no path resolution.
 *
 * Node's built-in modules come from `process.getBuiltinModule` (Node ≥ 20.16) where there is one: a
 * dynamic `import()` starts the ESM loader in the thread, a few ms more before the first byte is hashed.
 *
 * Protocol: workerData = { readBytes, depth }. The thread first says `{ ready: true }`. Each message
 * `{ id, path, follow, progress }` hashes the whole file at `path` (a final symlink is not followed,
 * O_NOFOLLOW, unless `follow`) and answers `{ id, size, sha256 }` (hex), or `{ id, error: { code, message } }`
 * on a file-system error; with `progress`, `{ id, hashed }` (bytes so far) after every read.
 * The parent sends a thread one file at a time. `depth` read buffers are allocated once and serve every
 * file: up to depth - 1 reads (each at the offset the previous ones end at) run ahead on the libuv pool while this thread hashes, so a read delayed
 * by other work on the other core does not stall the hash.
 */
export const HASH_POOL_WORKER_SOURCE = `
const builtin = (name) => (process.getBuiltinModule ? Promise.resolve(process.getBuiltinModule(name)) : import(name));
Promise.all([builtin('node:worker_threads'), builtin('node:crypto'), builtin('node:fs')]).then(([threads, crypto, fs]) => {
  const { parentPort, workerData } = threads;
  const { readBytes, depth } = workerData;
  const buffers = Array.from({ length: depth }, () => Buffer.allocUnsafeSlow(readBytes));
  const noFollow = fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0);
  const hashFile = async (id, path, follow, progress) => {
    const fh = await fs.promises.open(path, follow ? fs.constants.O_RDONLY : noFollow);
    const reads = [];
    try {
      const hash = crypto.createHash('sha256');
      let size = 0;
      let next = 0;
      let ahead = 0;
      const readAhead = () => {
        while (reads.length < depth - 1) {
          const buffer = buffers[next++ % depth];
          const read = fh.read(buffer, 0, readBytes, ahead);
          read.catch(() => {});
          reads.push(read);
          ahead += readBytes;
        }
      };
      readAhead();
      for (;;) {
        const { bytesRead, buffer } = await reads.shift();
        if (bytesRead === 0) break;
        size += bytesRead;
        if (bytesRead < readBytes) {
          // The reads ahead assumed full blocks: after a short one (the end, or a file that changed)
          // they are dropped and reading goes on from exactly where this one ended.
          hash.update(buffer.subarray(0, bytesRead));
          if (progress) parentPort.postMessage({ id, hashed: size });
          await Promise.allSettled(reads.splice(0));
          ahead = size;
          readAhead();
          continue;
        }
        // The next read first (into a buffer other than this one: depth - 1 in flight at most), so it
        // runs on the libuv pool while this thread hashes.
        readAhead();
        hash.update(buffer.subarray(0, bytesRead));
        if (progress) parentPort.postMessage({ id, hashed: size });
      }
      return { size, sha256: hash.digest('hex') };
    } finally {
      await Promise.allSettled(reads);
      await fh.close();
    }
  };
  parentPort.postMessage({ ready: true });
  parentPort.on('message', ({ id, path, follow, progress }) => {
    hashFile(id, path, follow, progress).then(
      (result) => parentPort.postMessage({ id, ...result }),
      (err) => parentPort.postMessage({ id, error: { code: err && err.code, message: String(err && err.message) } }),
    );
  });
});
`;
