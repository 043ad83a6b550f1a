import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { shebangNodeFlags } from '../helpers/shebang-flags.js';

const ROOT = join(import.meta.dirname, '..', '..');

// The server's V8 flags (young generation, old-generation limit floor: see cli/main.ts) are what its
// memory and publish figures were measured with; `modelgate serve` and `npm start` must not drift apart.
describe('the Node flags of the server', () => {
  it('are the same for `npm start` as for the `modelgate` command (its shebang)', async () => {
    const flags = await shebangNodeFlags(join(ROOT, 'cli', 'main.ts'));
    expect(flags).toContain('--max-semi-space-size=1');
    expect(flags).toContain('--initial-old-space-size=64');
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.start).toBe(`node ${flags.join(' ')} dist/cli/main.js serve`);
  });

  it('are read only from a node shebang: a file without one is refused', async () => {
    await expect(shebangNodeFlags(join(ROOT, 'package.json'))).rejects.toThrow(
      /does not start with a node shebang/,
    );
  });
});
