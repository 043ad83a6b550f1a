import { createHmac, timingSafeEqual } from 'node:crypto';

export interface SignedBlobRequest {
  readonly method: 'PUT' | 'GET';
  /** What the URL is for: a blob's sha256, or `uploads/<id>` for a staged upload (`stagedResource`). */
  readonly resource: string;
  readonly size: number;
  /** Unix seconds after which the URL is refused. */
  readonly expires: number;
}

/**
 * Expiring HMAC-SHA256 signatures over method, resource (a blob or a staged upload) and size: the local counterpart of an S3 presigned
 * URL. A URL for one blob cannot be used for another, for another size, or after it expires.
 */
export class UrlSigner {
  constructor(private readonly secret: Buffer) {}

  sign(req: SignedBlobRequest): string {
    return createHmac('sha256', this.secret)
      .update(`${req.method}\n${req.resource}\n${req.size}\n${req.expires}`)
      .digest('base64url');
  }

  verify(req: SignedBlobRequest, signature: string, nowSeconds: number): 'ok' | 'expired' | 'bad-signature' {
    const expected = Buffer.from(this.sign(req));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'bad-signature';
    return req.expires < nowSeconds ? 'expired' : 'ok';
  }
}
