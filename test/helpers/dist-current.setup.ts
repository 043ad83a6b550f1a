import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Vitest global setup of the e2e project: the e2e tests run the compiled `dist/` (the CLI as users get it),
 * so a source edited since the last build would be tested in its old form. When any source is newer than
 * its compiled file (or has none), this runs the build once before the tests; a failed build fails the run
 * naming the command to run by hand.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUILD_COMMAND = 'npx tsc -p tsconfig.build.json';
/** The folders tsconfig.build.json compiles. */
const SOURCE_DIRS = ['schemas', 'core', 'adapters', 'lambdas', 'gpu-validator', 'cli', 'local'];

/** Sources (relative paths) whose compiled `dist/…js` is missing or older than them. */
export function staleSources(root = ROOT): string[] {
  const stale: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(path);
        continue;
      }
      if (!entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts') || entry.name.endsWith('.d.ts'))
        continue;
      const rel = relative(root, path);
      const compiled = join(root, 'dist', rel.replace(/\.ts$/, '.js'));
      if (!existsSync(compiled) || statSync(compiled).mtimeMs < statSync(path).mtimeMs) stale.push(rel);
    }
  };
  for (const dir of SOURCE_DIRS) if (existsSync(join(root, dir))) walk(join(root, dir));
  return stale;
}

export default function setup(): void {
  const stale = staleSources();
  if (stale.length === 0) return;
  const shown = stale.slice(0, 3).join(', ') + (stale.length > 3 ? ` and ${stale.length - 3} more` : '');
  console.log(`e2e: dist/ is older than ${shown}; building (${BUILD_COMMAND})`);
  try {
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: ROOT,
        stdio: 'inherit',
      },
    );
  } catch {
    throw new Error(
      `e2e tests run dist/, and building it failed: fix the errors above and run \`${BUILD_COMMAND}\``,
    );
  }
}
