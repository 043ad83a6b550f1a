import { createHash, createPublicKey } from 'node:crypto';
import { GetPublicKeyCommand, type KMSClient, SignCommand } from '@aws-sdk/client-kms';
import type { Signer } from '../../core/ports.js';

/**
 * The registry's signing key on AWS: a KMS asymmetric key (`ECC_NIST_P256`, `SIGN_VERIFY`). The message
 * is hashed here and KMS signs the digest (`MessageType: DIGEST`, `ECDSA_SHA_256`): a raw message is
 * limited to 4096 bytes, and a statement listing many files is larger. KMS answers DER signatures, as
 * DSSE carries them. The public key is read once (GetPublicKey) and kept.
 */
export class KmsSigner implements Signer {
  private publicPem: Promise<string> | undefined;

  constructor(
    private readonly kms: KMSClient,
    /** A key id, key ARN, alias name (`alias/…`) or alias ARN. */
    private readonly keyId: string,
  ) {}

  publicKeyPem(): Promise<string> {
    this.publicPem ??= this.kms
      .send(new GetPublicKeyCommand({ KeyId: this.keyId }))
      .then((out) => {
        if (out.KeySpec !== 'ECC_NIST_P256' || !out.PublicKey)
          throw new Error(
            `KMS key ${this.keyId} is ${out.KeySpec ?? 'unknown'}, not an ECC_NIST_P256 signing key`,
          );
        return createPublicKey({ key: Buffer.from(out.PublicKey), format: 'der', type: 'spki' })
          .export({ type: 'spki', format: 'pem' })
          .toString();
      })
      .catch((e: unknown) => {
        this.publicPem = undefined; // a transient failure is tried again next time
        throw e;
      });
    return this.publicPem;
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    const out = await this.kms.send(
      new SignCommand({
        KeyId: this.keyId,
        Message: createHash('sha256').update(message).digest(),
        MessageType: 'DIGEST',
        SigningAlgorithm: 'ECDSA_SHA_256',
      }),
    );
    if (!out.Signature) throw new Error(`KMS returned no signature for key ${this.keyId}`);
    return out.Signature;
  }
}
