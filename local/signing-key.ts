import { join } from 'node:path';
import { KeyFileSigner } from '../adapters/signing/key-file-signer.js';
import type { Signer } from '../core/ports.js';
import type { LocalServerConfig } from '../schemas/config.schema.js';

/** The default signing key's file name in the data folder (0600, like every file there). */
export const DEFAULT_SIGNING_KEY_FILE = 'model-signing.pem';

/**
 * The server's signing key: the KMS key when MODELGATE_SIGNING_KMS_KEY_ID names one (region and
 * credentials from the standard chain, `AWS_ENDPOINT_URL_KMS` for another endpoint), else the key file
 * MODELGATE_SIGNING_KEY names (it must exist), else `model-signing.pem` in the data folder, made on
 * first start.
 */
export async function openSigner(config: LocalServerConfig): Promise<Signer> {
  const kmsKeyId = config.MODELGATE_SIGNING_KMS_KEY_ID;
  if (kmsKeyId) {
    const [{ KMSClient }, { KmsSigner }] = await Promise.all([
      import('@aws-sdk/client-kms'),
      import('../adapters/signing/kms-signer.js'),
    ]);
    const signer = new KmsSigner(new KMSClient({ region: config.AWS_REGION }), kmsKeyId);
    await signer.publicKeyPem(); // a wrong key fails the start, not the first validation
    return signer;
  }
  const given = config.MODELGATE_SIGNING_KEY;
  return KeyFileSigner.open(given ?? join(config.MODELGATE_DATA_DIR, DEFAULT_SIGNING_KEY_FILE), {
    create: given === undefined,
  });
}
