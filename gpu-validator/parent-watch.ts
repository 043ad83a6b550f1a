import { Worker } from 'node:worker_threads';

/** The env variable by which the validator tells a load child its pid (set at fork). */
export const PARENT_PID_ENV = 'MODELGATE_PARENT_PID';

/**
 * A load child ends itself when its parent is gone: nobody would read its result, and an orphaned load
 * keeps a core at 100 % for as long as the runtime takes. The check runs on a worker thread because the
 * runtime can block the main thread for minutes (session creation is synchronous native code), when no
 * 'disconnect' event could run. The parent is gone once our ppid is no longer its pid (we were
 * re-parented to init or a subreaper). SIGKILL of the own process group, so helpers die too.
 */
export function exitWithParent(intervalMs = 200): void {
  const expected = Number(process.env[PARENT_PID_ENV] ?? process.ppid);
  if (!Number.isInteger(expected) || expected <= 0) return;
  const source = `
    const { workerData } = require('node:worker_threads');
    const check = () => {
      if (process.ppid === workerData.parent) return;
      try { process.kill(-workerData.self, 'SIGKILL'); } catch {}
      process.kill(workerData.self, 'SIGKILL');
    };
    check();
    setInterval(check, workerData.intervalMs);
  `;
  const worker = new Worker(source, {
    eval: true,
    workerData: { parent: expected, self: process.pid, intervalMs },
  });
  worker.unref();
}
