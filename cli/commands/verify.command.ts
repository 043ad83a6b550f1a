import { RegistryError } from '../../core/errors.js';
import { CliError } from '../cli-error.js';
import { defineCommand, jsonOption, printJson } from '../command.js';
import { EXIT } from '../exit-codes.js';
import { verifyDir } from '../files/verify-dir.js';

export const verifyCommand = defineCommand({
  name: 'verify',
  summary: 're-hash a fetched folder against its manifest',
  usage: 'verify DIR [--json]',
  description:
    'Re-hashes every file of a folder written by `modelgate fetch` against its .modelgate.json manifest\nand reports missing, changed and extra files.',
  options: { ...jsonOption('the result') },
  exitCodes:
    '0 intact, 2 usage, 6 integrity failure (missing folder, missing, changed or extra files, or no manifest)',
  async run({ values, positionals, io }) {
    const dir = positionals[0];
    if (!dir) throw CliError.usage('missing DIR', 'verify');
    let result: Awaited<ReturnType<typeof verifyDir>>;
    try {
      result = await verifyDir(dir);
    } catch (e) {
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
    if (values.json) printJson(io, result);
    else if (result.ok) io.out(`${dir}: ${result.model}@${result.version} intact`);
    else {
      for (const p of result.problems) io.out(`${p.kind.toUpperCase()}\t${p.path}`);
      io.err(
        `error CHECKSUM_MISMATCH: ${dir} differs from ${result.model}@${result.version} in ${result.problems.length} file(s): fetch it again with \`modelgate fetch\``,
      );
    }
    return result.ok ? EXIT.OK : EXIT.INTEGRITY;
  },
});
