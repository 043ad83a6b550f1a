import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import type { Signer } from '../../core/ports.js';

/**
 * The embedded registry's signing key: an ECDSA P-256 private key in a PEM (PKCS#8) file. `open` creates
 * it (0600, never overwriting one that appeared meanwhile) when asked to and the file does not exist.
 */
export class KeyFileSigner implements Signer {
  private readonly publicPem: string;

  private constructor(private readonly key: KeyObject) {
    this.publicPem = createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
  }

  /**
   * Loads the key at `path`; with `create`, makes a new P-256 key there first if there is none (the
   * default key in the data folder). Throws naming the file when it is not a P-256 private key, or does
   * not exist and `create` is false.
   */
  static open(path: string, options: { readonly create: boolean }): KeyFileSigner {
    let pem: string;
    try {
      pem = readFileSync(path, 'utf8');
      if (options.create) chmodSync(path, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || !options.create)
        throw new Error(`signing key ${path}: ${(e as Error).message}`);
      pem = KeyFileSigner.create(path);
    }
    let key: KeyObject;
    try {
      key = createPrivateKey(pem);
    } catch (e) {
      throw new Error(`signing key ${path} is not a PEM private key (${(e as Error).message})`);
    }
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
      throw new Error(`signing key ${path} is not an ECDSA P-256 (prime256v1) key`);
    return new KeyFileSigner(key);
  }

  private static create(path: string): string {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    try {
      writeFileSync(path, pem, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      // Another process made it first: use theirs.
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(path, 'utf8');
      throw e;
    }
    chmodSync(path, 0o600);
    return pem;
  }

  async publicKeyPem(): Promise<string> {
    return this.publicPem;
  }

  async sign(message: Uint8Array): Promise<Uint8Array> {
    return sign('sha256', message, { key: this.key, dsaEncoding: 'der' });
  }
}
