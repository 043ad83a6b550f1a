import { createReadStream } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface BlobServer {
  url: string;
  close(): Promise<void>;
}

/**
 * A bare HTTP server that answers GET /blob with one file from disk, streamed: what the local registry's
 * blob endpoint does, minus signing, so a fetch benchmark measures the client and not the server.
 */
export async function serveFile(path: string, size: number): Promise<BlobServer> {
  const server = createServer((req, res) => {
    if (req.url !== '/blob') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': size, 'content-type': 'application/octet-stream' });
    createReadStream(path, { highWaterMark: 1024 * 1024 }).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/blob`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
