import type { ClientOptions } from './registry-client.js';

const EXECUTE_API_HOST = /^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/;

/** The region of an API Gateway URL, or undefined when the registry is not one (a local server). */
export function executeApiRegion(registry: string): string | undefined {
  try {
    return EXECUTE_API_HOST.exec(new URL(registry).hostname)?.[1];
  } catch {
    return undefined;
  }
}

type Credentials = ReturnType<typeof import('@aws-sdk/credential-providers').fromNodeProviderChain>;

/**
 * SigV4 for the registry on AWS: every route is IAM-authorized, so the CLI signs with the standard
 * credential chain (environment, profile, SSO, instance/container role), as the AWS CLI does.
 * The AWS SDK is loaded only when a request is signed, so local use never pays for it.
 */
export function sigv4Signer(region: string, credentials?: Credentials): NonNullable<ClientOptions['sign']> {
  let signer: Promise<import('@smithy/signature-v4').SignatureV4> | undefined;
  const load = async () => {
    const [{ SignatureV4 }, { Sha256 }, { fromNodeProviderChain }] = await Promise.all([
      import('@smithy/signature-v4'),
      import('@aws-crypto/sha256-js'),
      import('@aws-sdk/credential-providers'),
    ]);
    return new SignatureV4({
      service: 'execute-api',
      region,
      credentials: credentials ?? fromNodeProviderChain(),
      sha256: Sha256,
    });
  };
  return async ({ method, url, body }) => {
    signer ??= load();
    const headers: Record<string, string> = { host: url.host };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const signed = await (await signer).sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      ...(body === undefined ? {} : { body }),
    });
    // fetch sets Host itself and refuses to be told.
    const { host: _host, ...rest } = signed.headers as Record<string, string>;
    return rest;
  };
}
