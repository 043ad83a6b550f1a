import { startBlobEndpoint } from '../helpers/blob-endpoint-server.js';
import { describeBlobStoreContract } from './blob-store.contract.js';

/** The folder store behind the local server's real signed blob endpoint, over HTTP on loopback. */
describeBlobStoreContract('fs (blob folder + signed local endpoint)', async () => {
  const endpoint = await startBlobEndpoint('modelgate-blobs-');
  return { store: endpoint.store, cleanup: () => endpoint.close() };
});
