import { readFile } from 'node:fs/promises';

/**
 * The Node flags a script's `#!/usr/bin/env [-S] node FLAGS` line gives it: what `modelgate` runs with when
 * started as a command (bin, npx), so tests and benchmarks can start `node FLAGS script` the same way.
 * Throws when the first line is not such a shebang.
 */
export async function shebangNodeFlags(script: string): Promise<string[]> {
  const first = (await readFile(script, 'utf8')).split('\n', 1)[0]!;
  const m = /^#!\/usr\/bin\/env(?: -S)? node(.*)$/.exec(first);
  if (!m) throw new Error(`${script} does not start with a node shebang: ${first}`);
  return m[1]!.trim().split(/\s+/).filter(Boolean);
}
