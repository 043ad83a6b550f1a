import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A KMS endpoint on loopback for one ECC_NIST_P256 SIGN_VERIFY key, speaking KMS's JSON 1.1 protocol
 * (`X-Amz-Target: TrentService.GetPublicKey` / `TrentService.Sign`), so the KMS signer and a server
 * configured with MODELGATE_SIGNING_KMS_KEY_ID (and AWS_ENDPOINT_URL_KMS) run against the wire. Like KMS
 * with `MessageType: DIGEST`, it signs the 32-byte digest it is given without hashing it again, with
 * ECDSA written out from SEC 1 §4.1.3 below (Node's crypto always hashes first). It refuses anything
 * else the way KMS would (ValidationException, NotFoundException).
 */

// NIST P-256 (FIPS 186-4 D.1.2.3).
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const A = P - 3n;
const G = {
  x: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
  y: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
};
type Point = { x: bigint; y: bigint } | null;

const mod = (x: bigint, m: bigint) => ((x % m) + m) % m;
function powMod(b: bigint, e: bigint, m: bigint): bigint {
  let r = 1n;
  b = mod(b, m);
  for (; e > 0n; e >>= 1n, b = (b * b) % m) if (e & 1n) r = (r * b) % m;
  return r;
}
const inv = (x: bigint, m: bigint) => powMod(x, m - 2n, m);

function add(p: Point, q: Point): Point {
  if (!p) return q;
  if (!q) return p;
  if (p.x === q.x && mod(p.y + q.y, P) === 0n) return null;
  const l =
    p.x === q.x && p.y === q.y
      ? mod((3n * p.x * p.x + A) * inv(2n * p.y, P), P)
      : mod((q.y - p.y) * inv(q.x - p.x, P), P);
  const x = mod(l * l - p.x - q.x, P);
  return { x, y: mod(l * (p.x - x) - p.y, P) };
}
function times(k: bigint, p: Point): Point {
  let r: Point = null;
  for (let q = p; k > 0n; k >>= 1n, q = add(q, q)) if (k & 1n) r = add(r, q);
  return r;
}
const toBig = (b: Uint8Array) => BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`);

/** DER INTEGER: big-endian, minimal, a leading zero when the high bit is set. */
function derInt(v: bigint): Buffer {
  let hex = v.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let bytes = Buffer.from(hex, 'hex');
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return Buffer.concat([Buffer.from([0x02, bytes.length]), bytes]);
}

/** ECDSA signature (DER) of a 32-byte digest with private scalar d: SEC 1 §4.1.3, k random. */
function signDigest(digest: Buffer, d: bigint): Buffer {
  const z = toBig(digest);
  for (;;) {
    const k = mod(toBig(randomBytes(40)), N - 1n) + 1n;
    const r = mod(times(k, G)!.x, N);
    const s = mod(inv(k, N) * (z + r * d), N);
    if (r === 0n || s === 0n) continue;
    const body = Buffer.concat([derInt(r), derInt(s)]);
    return Buffer.concat([Buffer.from([0x30, body.length]), body]);
  }
}

export interface KmsEndpoint {
  readonly url: string;
  readonly keyArn: string;
  /** The key's public half, PEM (SPKI). */
  readonly publicKeyPem: string;
  /** Every request: its X-Amz-Target and JSON body. */
  readonly calls: { target: string; body: Record<string, string> }[];
  stop(): Promise<void>;
}

export async function startKmsEndpoint(): Promise<KmsEndpoint> {
  const keyArn = 'arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555';
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const d = toBig(Buffer.from(privateKey.export({ format: 'jwk' }).d!, 'base64url'));
  const calls: KmsEndpoint['calls'] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c: Buffer) => (text += c.toString()));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target']);
      const body = JSON.parse(text) as Record<string, string>;
      calls.push({ target, body });
      const reply = (status: number, json: unknown) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(json));
      };
      if (body.KeyId !== keyArn) return reply(400, { __type: 'NotFoundException', message: 'no such key' });
      if (target === 'TrentService.GetPublicKey')
        return reply(200, {
          KeyId: keyArn,
          KeySpec: 'ECC_NIST_P256',
          KeyUsage: 'SIGN_VERIFY',
          SigningAlgorithms: ['ECDSA_SHA_256'],
          PublicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
        });
      if (target === 'TrentService.Sign') {
        const digest = Buffer.from(body.Message!, 'base64');
        if (
          body.MessageType !== 'DIGEST' ||
          digest.length !== 32 ||
          body.SigningAlgorithm !== 'ECDSA_SHA_256'
        )
          return reply(400, { __type: 'ValidationException', message: 'expected a SHA-256 DIGEST' });
        return reply(200, {
          KeyId: keyArn,
          SigningAlgorithm: 'ECDSA_SHA_256',
          Signature: signDigest(digest, d).toString('base64'),
        });
      }
      return reply(400, { __type: 'UnknownOperationException', message: target });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    keyArn,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    calls,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
