import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

/**
 * `npm run image:build` / `npm run image:push -- --repository URI`: builds the gpu-validator image
 * (gpu-validator/Dockerfile, context the repository root narrowed by /.dockerignore) for linux/amd64 and
 * tags it with the git sha of HEAD; `push` also logs in to the ECR registry and pushes `URI:<sha>`, the
 * immutable tag `cdk deploy -c validatorImage=ecr -c validatorImageTag=<sha>` deploys (cdk/README.md).
 *
 * `--dry-run` prints the exact commands, one a line, and runs none (no Docker is needed for that).
 * A worktree with uncommitted changes is refused (its sha would not name what was built) unless
 * `--allow-dirty`. Exit codes: 0 done, 1 a command failed, 2 bad arguments or a dirty worktree.
 */

const REPO_ROOT = join(import.meta.dirname, '..');
/** The local image name; the pushed one is the repository URI. */
export const LOCAL_IMAGE = 'modelgate-gpu-validator';

/** An ECR repository URI: `ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]/NAME`. */
const ECR_URI =
  /^(\d{12})\.dkr\.ecr\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com(\.cn)?\/([a-z0-9]+(?:[._/-][a-z0-9]+)*)$/;

/** One step: a command line, optionally fed the stdout of another (`left | right`). */
export interface ImageStep {
  readonly argv: readonly string[];
  readonly stdinFrom?: readonly string[];
}

export class ImageScriptError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'ImageScriptError';
  }
}

/** The registry host and region of an ECR repository URI; throws ImageScriptError naming `--repository`. */
export function parseRepository(uri: string): { registry: string; region: string } {
  const m = ECR_URI.exec(uri);
  if (!m)
    throw new ImageScriptError(
      '--repository',
      `must be an ECR repository URI (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME, the Validation stack's RepositoryUri output), got ${JSON.stringify(uri)}`,
    );
  return { registry: uri.slice(0, uri.indexOf('/')), region: m[2]! };
}

/** The steps of `build` (and of `push` when `repository` is given), for the image tagged `sha`. */
export function imageSteps(sha: string, repository?: string): ImageStep[] {
  if (!/^[0-9a-f]{40}$/.test(sha)) throw new ImageScriptError('sha', `not a git sha: ${JSON.stringify(sha)}`);
  const local = `${LOCAL_IMAGE}:${sha}`;
  const steps: ImageStep[] = [
    {
      argv: [
        'docker',
        'build',
        '--platform',
        'linux/amd64',
        '--file',
        'gpu-validator/Dockerfile',
        '--tag',
        local,
        '--label',
        `org.opencontainers.image.revision=${sha}`,
        '.',
      ],
    },
  ];
  if (repository === undefined) return steps;
  const { registry, region } = parseRepository(repository);
  const remote = `${repository}:${sha}`;
  steps.push(
    {
      stdinFrom: ['aws', 'ecr', 'get-login-password', '--region', region],
      argv: ['docker', 'login', '--username', 'AWS', '--password-stdin', registry],
    },
    { argv: ['docker', 'tag', local, remote] },
    { argv: ['docker', 'push', remote] },
  );
  return steps;
}

const quote = (arg: string): string =>
  /^[A-Za-z0-9_./:=@%+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;

/** A step as one shell line, exactly as it runs. */
export const stepLine = (step: ImageStep): string =>
  [
    ...(step.stdinFrom ? [step.stdinFrom.map(quote).join(' '), '|'] : []),
    step.argv.map(quote).join(' '),
  ].join(' ');

function run(step: ImageStep): void {
  let input: Buffer | undefined;
  if (step.stdinFrom) input = execFileSync(step.stdinFrom[0]!, step.stdinFrom.slice(1), { cwd: REPO_ROOT });
  const result = spawnSync(step.argv[0]!, step.argv.slice(1), {
    cwd: REPO_ROOT,
    stdio: [input ? 'pipe' : 'inherit', 'inherit', 'inherit'],
    ...(input ? { input } : {}),
  });
  if (result.error) throw new Error(`${step.argv[0]}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${stepLine({ argv: step.argv })} exited ${result.status}`);
}

const git = (...args: string[]) => execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();

function main(argv: readonly string[]): number {
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: {
      repository: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      'allow-dirty': { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const command = positionals[0];
  if (command !== 'build' && command !== 'push')
    throw new ImageScriptError('command', `expected build or push, got ${JSON.stringify(command ?? '')}`);
  const repository = values.repository ?? process.env.MODELGATE_VALIDATOR_REPOSITORY;
  if (command === 'push' && !repository)
    throw new ImageScriptError(
      '--repository',
      'is required for push (or set MODELGATE_VALIDATOR_REPOSITORY)',
    );
  if (!values['allow-dirty'] && git('status', '--porcelain', '--untracked-files=no') !== '')
    throw new ImageScriptError(
      'worktree',
      'has uncommitted changes, so the git sha would not name the image: commit them, or pass --allow-dirty',
    );
  const steps = imageSteps(git('rev-parse', 'HEAD'), command === 'push' ? repository : undefined);
  for (const step of steps) {
    console.log(stepLine(step));
    if (!values['dry-run']) run(step);
  }
  return 0;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    process.exitCode =
      e instanceof ImageScriptError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? 2 : 1;
  }
}
