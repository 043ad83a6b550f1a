import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsBlobStore } from '../../adapters/fs-blobs/fs-blob-store.js';
import { UrlSigner } from '../../adapters/fs-blobs/url-signer.js';
import { systemClock } from '../../core/ports.js';
import { errorResponse } from '../../lambdas/http/errors-middleware.js';
import { handleBlobRequest } from '../../local/blob-endpoint.js';

/** A folder store in a temp folder behind the local blob endpoint on a loopback port. */
export interface BlobEndpointServer {
  readonly store: FsBlobStore;
  /** The folder the store keeps its blobs in. */
  readonly root: string;
  /** Stops the server, the store's threads, and removes the folder. */
  close(): Promise<void>;
}

/**
 * Starts the blob endpoint (`local/blob-endpoint.ts`) over real HTTP, answering errors as the server's
 * dispatcher does (the API's error envelope; a response already started is cut).
 */
export async function startBlobEndpoint(prefix: string): Promise<BlobEndpointServer> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  const signer = new UrlSigner(Buffer.alloc(32, 5));
  let url = '';
  const store = new FsBlobStore({ root, signer, publicUrl: () => url, clock: systemClock });
  await store.init();
  const server: Server = createServer((req, res) => {
    handleBlobRequest(req, res, new URL(req.url ?? '/', 'http://local'), {
      store,
      signer,
      clock: systemClock,
    }).catch((e) => {
      const r = errorResponse(e);
      if (!res.headersSent) res.writeHead(r.statusCode ?? 500, { connection: 'close' }).end(r.body);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    store,
    root,
    async close() {
      await store.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await rm(root, { recursive: true, force: true });
    },
  };
}
