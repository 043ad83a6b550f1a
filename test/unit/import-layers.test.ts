import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * DESIGN.md's "may import" table (Layout section), enforced over the real import graph: every import,
 * export-from, `import()` and `typeof import()` of every source file is resolved and checked against
 * its folder's row. The parser is TypeScript's own (`ts.preProcessFile`), so no import form slips past a
 * regular expression.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** A layer's own folder may always be imported; these are the other folders and packages each may use. */
interface Layer {
  readonly folders: readonly string[];
  /** npm packages: `*` for any; `node:` builtins are the standard library, allowed where `std` is set. */
  readonly packages: readonly string[] | '*';
  readonly std: boolean;
}

/** The table, row by row. `local/` and `gpu-validator/` are composition roots as well; see EXCEPTIONS. */
const MAY_IMPORT: Readonly<Record<string, Layer>> = {
  schemas: { folders: [], packages: ['zod'], std: false },
  core: { folders: ['schemas'], packages: [], std: true },
  adapters: { folders: ['core', 'schemas'], packages: '*', std: true },
  lambdas: { folders: ['core', 'adapters', 'schemas'], packages: '*', std: true },
  'gpu-validator': { folders: ['core', 'schemas'], packages: '*', std: true },
  cli: { folders: ['core', 'schemas'], packages: '*', std: true },
  // The embedded server wires adapters to the Lambda handlers; it also builds the registry settings
  // (core, schemas) and runs the validator's worker pool in-process ("the local worker runs the same
  // engine on CPU").
  local: { folders: ['lambdas', 'adapters', 'core', 'schemas', 'gpu-validator'], packages: '*', std: true },
  cdk: { folders: [], packages: '*', std: true },
};

/**
 * Imports across the table that are there on purpose, each with its reason: `from` is a file or a
 * folder (ending in `/`), `to` a file or folder prefix.
 */
const EXCEPTIONS: readonly { from: string; to: string; why: string }[] = [
  {
    from: 'gpu-validator/ecs-task.ts',
    to: 'adapters/',
    why: 'the Batch job entry point is a composition root: it wires DynamoDB and S3',
  },
  {
    from: 'gpu-validator/ecs-task.ts',
    to: 'lambdas/aws/',
    why: 'the task counts verdicts with the same EMF sink and metric names as the Lambdas',
  },
  {
    from: 'cli/files/install-dir.ts',
    to: 'adapters/fs-lock/kernel-lock.ts',
    why: 'one kernel-released lock (flock) shared by `modelgate fetch` and the local server',
  },
  {
    from: 'cli/files/model-inputs.ts',
    to: 'gpu-validator/',
    why: 'the CLI checks sample inputs before upload with the validator’s own parsers',
  },
  {
    from: 'cli/node/',
    to: 'gpu-validator/',
    why: '`doctor --load` and `sync --load-check` load models in the validator’s own isolated child, judged by its compatibility rules',
  },
  {
    from: 'cli/commands/serve.command.ts',
    to: 'local/',
    why: '`modelgate serve` starts the embedded server',
  },
  { from: 'cli/main.ts', to: 'local/redact.ts', why: 'the CLI redacts signed URLs as the server logs do' },
  {
    from: 'cdk/',
    to: 'lambdas/',
    why: 'routes, IAM policies and metric names are declared once in lambdas/ and derived by the CDK',
  },
  { from: 'cdk/', to: 'adapters/dynamodb/', why: 'the table’s key layout is declared once by its adapter' },
  {
    from: 'cdk/',
    to: 'adapters/s3/s3-key-layout.ts',
    why: 'the bucket’s key layout is declared once by its adapter; each role is granted the prefixes its calls use',
  },
  { from: 'cdk/', to: 'schemas/', why: 'CDK context is parsed with the shared schemas' },
];

interface Violation {
  readonly file: string;
  readonly specifier: string;
  readonly reason: string;
}

const topFolder = (path: string) => path.split('/')[0]!;
const packageName = (specifier: string) =>
  specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;

const excepted = (file: string, target: string) =>
  EXCEPTIONS.some(
    (e) =>
      (e.from.endsWith('/') ? file.startsWith(e.from) : file === e.from) &&
      (e.to.endsWith('/') ? target.startsWith(e.to) : target === e.to),
  );

/** The rule broken by one import of `file` (repository-relative), or undefined when it is allowed. */
function checkImport(file: string, specifier: string): string | undefined {
  const layer = MAY_IMPORT[topFolder(file)];
  if (!layer) return undefined;
  if (specifier.startsWith('.')) {
    // Sources import each other by their emitted name (`x.js`); the rules name the source (`x.ts`).
    const target = relative(ROOT, resolve(ROOT, dirname(file), specifier))
      .replace(/\\/g, '/')
      .replace(/\.js$/, '.ts');
    const folder = topFolder(target);
    if (folder === topFolder(file) || layer.folders.includes(folder) || excepted(file, target))
      return undefined;
    return `${topFolder(file)}/ may not import ${folder}/ (${target})`;
  }
  if (specifier.startsWith('node:'))
    return layer.std ? undefined : `${topFolder(file)}/ may not use ${specifier}`;
  if (layer.packages === '*' || layer.packages.includes(packageName(specifier))) return undefined;
  return `${topFolder(file)}/ may not import the package ${packageName(specifier)}`;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every import of every source file under the table's folders that breaks a rule. */
function importViolations(): { files: number; imports: number; violations: Violation[] } {
  const violations: Violation[] = [];
  let imports = 0;
  const files = Object.keys(MAY_IMPORT).flatMap(sourceFiles);
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(join(ROOT, file), 'utf8'), true, true);
    for (const { fileName: specifier } of importedFiles) {
      imports++;
      const reason = checkImport(file, specifier);
      if (reason) violations.push({ file, specifier, reason });
    }
  }
  return { files: files.length, imports, violations };
}

describe("DESIGN.md's import table", () => {
  it('holds for every import of every source file', () => {
    const { files, imports, violations } = importViolations();
    expect(files).toBeGreaterThan(100);
    expect(imports).toBeGreaterThan(500);
    expect(violations).toEqual([]);
  });

  it('catches an import across the table, a forbidden package and I/O in schemas', () => {
    expect(checkImport('core/models.ts', '../adapters/sqlite/database.js')).toBe(
      'core/ may not import adapters/ (adapters/sqlite/database.ts)',
    );
    expect(checkImport('core/models.ts', 'better-sqlite3')).toBe(
      'core/ may not import the package better-sqlite3',
    );
    expect(checkImport('schemas/names.schema.ts', 'node:fs')).toBe('schemas/ may not use node:fs');
    expect(checkImport('gpu-validator/engine.ts', '../adapters/s3/s3-blob-store.js')).toMatch(
      /may not import/,
    );
    expect(checkImport('cli/files/metadata.ts', '../../adapters/fs-lock/kernel-lock.js')).toMatch(/may not/);
  });

  it('allows what the table allows and the listed exceptions only', () => {
    expect(checkImport('core/models.ts', '../schemas/model.schema.js')).toBeUndefined();
    expect(checkImport('core/models.ts', './errors.js')).toBeUndefined();
    expect(checkImport('schemas/names.schema.ts', 'zod')).toBeUndefined();
    expect(checkImport('cli/files/install-dir.ts', '../../adapters/fs-lock/kernel-lock.js')).toBeUndefined();
    expect(checkImport('gpu-validator/ecs-task.ts', '../adapters/s3/s3-blob-store.js')).toBeUndefined();
    for (const e of EXCEPTIONS) expect(e.why.length).toBeGreaterThan(10);
  });
});
