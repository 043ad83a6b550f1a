import { RegistryError } from '../../core/errors.js';
import { CliError } from '../cli-error.js';
import { defineCommand, jsonOption, printJson } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { verifyDir } from '../files/verify-dir.js';
import { signatureChecksFor } from '../files/verify-key-env.js';
import type { FolderSignature } from '../files/verify-signature.js';

export const verifyCommand = defineCommand({
  name: 'verify',
  summary: 're-hash a fetched folder against its manifest',
  usage: 'verify DIR [--key PEM] [--json]',
  description:
    'Re-hashes every file of a folder written by `modelgate fetch` against its .modelgate.json manifest\nand reports missing, changed and extra files.',
  options: {
    key: {
      type: 'string',
      multiple: true,
      arg: 'PEM',
      help: "also check the registry's signatures (model.sig, validation.sig) with this public key\n(PEM text or a file; repeatable; default $MODELGATE_VERIFY_KEY): catches a file swapped\ntogether with a rewritten .modelgate.json, checksums.txt and SHA256SUMS",
    },
    ...jsonOption('the result'),
  },
  exitCodes:
    '0 intact, 2 usage, 6 integrity failure (missing folder, missing, changed or extra files, or no manifest;\nwith --key: signatures missing, not verifying, or listing other files: SIGNATURE_INVALID), 7 a file or\nfolder this user may not read (PERMISSION_DENIED)',
  async run({ values, positionals, io }) {
    const dir = positionals[0];
    if (!dir) throw CliError.usage('missing DIR', 'verify');
    const signatures = await signatureChecksFor(values.key, io.env);
    const trusted = await signatures?.trustedKeysFrom(values.key, io.env, 'verify');
    // The digests verifyDir computes serve the signature check too: every byte is read once.
    const hashed = new Map<string, string>();
    let result: Awaited<ReturnType<typeof verifyDir>>;
    try {
      result = await verifyDir(dir, hashed);
    } catch (e) {
      // Not the folder's content but who may read it: a re-download would not help (runbook "Fix: Permission Issues").
      if (e instanceof RegistryError && e.code === 'PERMISSION_DENIED')
        throw new CliError(
          e.code,
          `${e.message}: run verify as a user who may read the folder, or give files 0644 and folders 0755 (\`modelgate doctor ${dir}\` names each path)`,
          EXIT.ENVIRONMENT,
          e.details,
        );
      if (e instanceof RegistryError)
        throw new CliError(
          e.code,
          e.message.includes('modelgate fetch')
            ? e.message
            : `${e.message}: fetch the version again with \`modelgate fetch\``,
          EXIT.INTEGRITY,
          e.details,
        );
      throw e;
    }
    // The manifest check first (it names the files); then the signatures, which trust nothing in the folder.
    let signature: FolderSignature | undefined;
    if (signatures && trusted && result.ok)
      signature = await signatures.verifySignedFolder(dir, trusted, result, hashed);
    if (values.json) printJson(io, signature ? { ...result, signature } : result);
    else if (result.ok)
      io.out(
        `${dir}: ${result.model}@${result.version} intact${signature ? `, signed by key ${signature.keyId.slice(0, 16)}…` : ''}`,
      );
    else {
      for (const p of result.problems) io.out(`${p.kind.toUpperCase()}\t${p.path}`);
      io.err(
        `error CHECKSUM_MISMATCH: ${dir} differs from ${result.model}@${result.version} in ${result.problems.length} file(s): fetch it again with \`modelgate fetch\``,
      );
    }
    return result.ok ? EXIT.OK : EXIT.INTEGRITY;
  },
});
