import { afterAll, beforeAll } from 'vitest';
import { type CliResult, cli, removeDir, type ServerHandle, startServer, tempDir } from './harness.js';

type ServerOptions = NonNullable<Parameters<typeof startServer>[0]>;

export interface ServerFixture {
  readonly server: ServerHandle;
  /** A scratch folder the CLI runs in. */
  readonly work: string;
  /** `modelgate ARGS…` against this server, from the work folder. */
  run(...args: string[]): Promise<CliResult>;
}

/**
 * A real `modelgate serve` and a work folder for the tests of one describe block: started before them,
 * stopped and removed after them. `options` may depend on the work folder (files written before start).
 */
export function useServer(options: ServerOptions | ((work: string) => ServerOptions) = {}): ServerFixture {
  let server: ServerHandle | undefined;
  let work = '';
  beforeAll(async () => {
    work = tempDir();
    server = await startServer(typeof options === 'function' ? options(work) : options);
  });
  afterAll(async () => {
    await server?.stop();
    removeDir(work);
    if (server) removeDir(server.dataDir);
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
  };
}
