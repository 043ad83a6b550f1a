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
import { describeBlobStoreContract } from './blob-store.contract.js';

/** The folder store behind the local server's real signed blob endpoint, over HTTP on loopback. */
describeBlobStoreContract('fs (blob folder + signed local endpoint)', async () => {
  const root = await mkdtemp(join(tmpdir(), 'modelgate-blobs-'));
  const signer = new UrlSigner(Buffer.alloc(32, 3));
  let url = '';
  const store = new FsBlobStore({ root, signer, publicUrl: () => url, clock: systemClock });
  await store.init();
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://local');
    handleBlobRequest(req, res, u, { store, signer, clock: systemClock }).catch((e) => {
      const r = errorResponse(e);
      if (!res.headersSent) res.writeHead(r.statusCode ?? 500, { connection: 'close' }).end(r.body);
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    store,
    cleanup: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await rm(root, { recursive: true, force: true });
    },
  };
});
