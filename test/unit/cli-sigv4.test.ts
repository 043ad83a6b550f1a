import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { executeApiRegion, sigv4Signer } from '../../cli/sigv4.js';

const credentials = async () => ({
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
});
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

describe('CLI on AWS: SigV4 for execute-api', () => {
  it('reads the region from an API Gateway URL and nothing else', () => {
    expect(executeApiRegion('https://abc123.execute-api.eu-west-1.amazonaws.com')).toBe('eu-west-1');
    expect(executeApiRegion('http://127.0.0.1:8080')).toBeUndefined();
    expect(executeApiRegion('not a url')).toBeUndefined();
  });

  it('signs a request so that an independent SigV4 computation agrees', async () => {
    const sign = sigv4Signer('eu-west-1', credentials);
    const url = new URL('https://abc123.execute-api.eu-west-1.amazonaws.com/api/v1/models?limit=5');
    const body = JSON.stringify({ name: 'ocr-det' });
    const headers = await sign({ method: 'POST', url, body });
    const amzDate = headers['x-amz-date']!;
    const auth = headers.authorization!;
    expect(auth).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$/,
    );
    expect(headers.host).toBeUndefined();

    // Recompute the signature from the spec (canonical request → string to sign → derived key).
    const signedHeaders = /SignedHeaders=([^,]+)/.exec(auth)![1]!.split(';');
    const all: Record<string, string> = { ...headers, host: url.host };
    const canonicalHeaders = signedHeaders.map((h) => `${h}:${all[h]!.trim()}\n`).join('');
    const payloadHash = createHash('sha256').update(body).digest('hex');
    const canonical = [
      'POST',
      '/api/v1/models',
      'limit=5',
      canonicalHeaders,
      signedHeaders.join(';'),
      payloadHash,
    ].join('\n');
    const day = amzDate.slice(0, 8);
    const scope = `${day}/eu-west-1/execute-api/aws4_request`;
    const toSign = [
      'AWS4-HMAC-SHA256',
      amzDate,
      scope,
      createHash('sha256').update(canonical).digest('hex'),
    ].join('\n');
    let key = hmac(`AWS4${(await credentials()).secretAccessKey}`, day);
    for (const part of ['eu-west-1', 'execute-api', 'aws4_request']) key = hmac(key, part);
    expect(auth.endsWith(`Signature=${hmac(key, toSign).toString('hex')}`)).toBe(true);
  });
});
