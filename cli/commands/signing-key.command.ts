import type { SigningKeyResponse } from '../../schemas/signature.schema.js';
import { defineCommand, jsonOption, REGISTRY_OPTION } from '../command.js';
import { EXIT } from '../exit-codes.js';

export const signingKeyCommand = defineCommand({
  name: 'signing-key',
  summary: "print the registry's signing public key (PEM)",
  usage: 'signing-key [--json]',
  description:
    'Prints the public key the registry signs VERIFIED versions with (PEM), to give nodes for\n`fetch --verify-key` and `verify --key`. Get it once over a channel you trust and keep it on the\nnodes: a key fetched at verification time proves nothing.',
  options: { ...jsonOption('the key id, algorithm and PEM'), ...REGISTRY_OPTION },
  exitCodes: '0 printed, 4 the registry has no signing key, 1 unexpected',
  async run({ client, print }) {
    const key = await client().get<SigningKeyResponse>('api/v1/signing-key');
    print(key, () => key.publicKeyPem.trimEnd());
    return EXIT.OK;
  },
});
