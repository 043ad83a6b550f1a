import { afterAll, afterEach, beforeAll } from 'vitest';
import { type CliResult, cli, removeDir, type ServerHandle, startServer, tempDir } from './harness.js';

type ServerOptions = NonNullable<Parameters<typeof startServer>[0]>;

export interface ServerFixture {
  readonly server: ServerHandle;
  /** A scratch folder the CLI runs in. */
  readonly work: string;
  /** `modelgate ARGS…` against this server, from the work folder. */
  run(...args: string[]): Promise<CliResult>;
  /**
   * Stops the server and starts another on the same data folder with `options` instead (a restart with
   * other settings); the new one is the fixture's `server` from then on and is stopped after the block.
   */
  restart(options?: ServerOptions): Promise<ServerHandle>;
}

/**
 * A real `modelgate serve` and a work folder for the tests of one describe block: started before them,
 * stopped and removed after them (a `dataDir` given in `options` is left in place). `options` may depend
 * on the work folder (files written before start).
 */
export function useServer(options: ServerOptions | ((work: string) => ServerOptions) = {}): ServerFixture {
  let server: ServerHandle | undefined;
  let work = '';
  // A data folder the caller passed is the caller's (a mount, say): the fixture removes only its own.
  let ownDataDir = true;
  beforeAll(async () => {
    work = tempDir();
    const resolved = typeof options === 'function' ? options(work) : options;
    ownDataDir = resolved.dataDir === undefined;
    server = await startServer(resolved);
  });
  afterAll(async () => {
    await server?.stop();
    removeDir(work);
    if (server && ownDataDir) removeDir(server.dataDir);
  });
  return {
    get server() {
      if (!server) throw new Error('the server did not start: see the beforeAll error');
      return server;
    },
    get work() {
      return work;
    },
    run: (...args) => cli(args, server!.env, work),
    async restart(next = {}) {
      const dataDir = server!.dataDir;
      await server!.stop();
      server = await startServer({ ...next, dataDir });
      return server;
    },
  };
}

export interface ServersFixture {
  /**
   * Starts a server for the current test (on `options.dataDir` when given, e.g. a restart after a kill).
   * After the test every server is stopped and every data folder removed.
   */
  start(options?: ServerOptions): Promise<ServerHandle>;
  /** A scratch folder removed after the current test. */
  tempDir(): string;
  /** Runs `cleanup` after the current test, before the servers are stopped (last deferred runs first). */
  defer(cleanup: () => Promise<void> | void): void;
}

/**
 * Servers started inside each test of a describe block, for tests that kill, restart or race servers
 * (one `useServer` for the block would not do): whatever a test started is stopped and removed after it,
 * whether it passed or not.
 */
export function useServers(): ServersFixture {
  const cleanups: (() => Promise<void> | void)[] = [];
  const servers: ServerHandle[] = [];
  const dirs = new Set<string>();
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    for (const server of servers.splice(0).reverse()) await server.stop();
    for (const dir of dirs) removeDir(dir);
    dirs.clear();
  });
  return {
    async start(options = {}) {
      const server = await startServer(options);
      servers.push(server);
      dirs.add(server.dataDir);
      return server;
    },
    tempDir() {
      const dir = tempDir();
      dirs.add(dir);
      return dir;
    },
    defer(cleanup) {
      cleanups.push(cleanup);
    },
  };
}
