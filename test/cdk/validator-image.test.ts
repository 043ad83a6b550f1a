import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { IgnoreStrategy } from 'aws-cdk-lib';
import { afterAll, describe, expect, it } from 'vitest';
import { addModelgateStacks, createApp } from '../../cdk/modelgate-app.js';
import { repoPath } from '../../cdk/paths.js';
import { imageSteps, LOCAL_IMAGE, parseRepository, stepLine } from '../../scripts/validator-image.js';

/**
 * The validator image: gpu-validator/Dockerfile, the allow-list /.dockerignore that narrows its context,
 * the CDK asset that stages that context, and the script CI builds and pushes it with. No Docker engine
 * here: the Dockerfile is checked as text, the context with CDK's own .dockerignore matcher (the one the
 * asset uses), and the script by its `--dry-run`.
 */
const dockerfile = readFileSync(repoPath('gpu-validator', 'Dockerfile'), 'utf8');
const ignorePatterns = readFileSync(repoPath('.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const ignore = IgnoreStrategy.docker(repoPath(), ignorePatterns);
const inContext = (path: string) => !ignore.ignores(repoPath(path));

const outdir = mkdtempSync(join(tmpdir(), 'modelgate-cdk-image-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

describe('gpu-validator/Dockerfile', () => {
  it('runs Node 22, as the Lambdas do', () => {
    expect(dockerfile).toMatch(/^ARG NODE_VERSION=22\.\d+\.\d+$/m);
  });

  it("removes onnxruntime-node's binaries for other platforms and checks only linux/x64 is left", () => {
    expect(dockerfile).toContain('rm -rf darwin win32 linux/arm64');
    expect(dockerfile).toContain('test "$(echo */*)" = linux/x64');
  });

  it('compiles only the validator and what it imports, and runs it unprivileged', () => {
    expect(dockerfile).toContain('npx tsc -p gpu-validator/tsconfig.image.json');
    expect(dockerfile).not.toMatch(/COPY (cli|local|cdk|test|bench)\b/);
    expect(dockerfile).toMatch(/^USER validator$/m);
    expect(dockerfile).toMatch(/^CMD \["node", "dist\/gpu-validator\/ecs-task\.js"\]$/m);
  });
});

describe('/.dockerignore: an allow-list', () => {
  it('starts by excluding everything, and leaves out what the image never reads', () => {
    expect(ignorePatterns[0]).toBe('*');
    for (const path of [
      'README.md',
      'cli/main.ts',
      'cdk/app.ts',
      'test/unit/publish.test.ts',
      'local',
      'bench',
    ])
      expect(inContext(path), path).toBe(false);
    expect(inContext('node_modules/zod/package.json')).toBe(false);
  });

  it("allows every file the image's tsconfig compiles, and every COPY source of the Dockerfile", () => {
    const listed = execFileSync(
      process.execPath,
      [
        repoPath('node_modules/typescript/bin/tsc'),
        '-p',
        'gpu-validator/tsconfig.image.json',
        '--noEmit',
        '--listFiles',
      ],
      { cwd: repoPath(), encoding: 'utf8' },
    )
      .split('\n')
      .filter((f) => f && !f.includes('/node_modules/'))
      .map((f) => relative(repoPath(), f));
    expect(listed).toContain('gpu-validator/ecs-task.ts');
    expect(listed.filter((f) => !inContext(f))).toEqual([]);
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \.\/?\S*$/gm)].flatMap((m) =>
      m[1]!.split(' '),
    );
    expect(copied).toContain('package-lock.json');
    // A directory is sent when any file under it is (Docker walks into it for the `!` patterns).
    const sent = (path: string): boolean =>
      inContext(path) ||
      (existsSync(repoPath(path)) &&
        readdirSync(repoPath(path), { recursive: true, encoding: 'utf8' }).some((f) =>
          inContext(join(path, f)),
        ));
    for (const path of copied) expect(sent(path), path).toBe(true);
  });
});

describe('the CDK asset (validatorImage=asset)', () => {
  it('stages the narrowed context for linux/amd64: no README, no CLI, no node_modules', () => {
    // Lambda bundling is skipped here: modelgate-stacks.test.ts covers it.
    const app = createApp({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    addModelgateStacks(app);
    const assembly = app.synth();
    const manifest = JSON.parse(
      readFileSync(join(assembly.directory, 'Modelgate-Validation.assets.json'), 'utf8'),
    ) as {
      dockerImages: Record<string, { source: { directory: string; dockerFile?: string; platform?: string } }>;
    };
    const images = Object.values(manifest.dockerImages);
    expect(images).toHaveLength(1);
    expect(images[0]!.source).toMatchObject({
      dockerFile: 'gpu-validator/Dockerfile',
      platform: 'linux/amd64',
    });
    const context = join(assembly.directory, images[0]!.source.directory);
    expect(readdirSync(context).sort()).toEqual(
      [
        '.dockerignore',
        '.npmrc',
        'adapters',
        'core',
        'gpu-validator',
        'lambdas',
        'package-lock.json',
        'package.json',
        'schemas',
        'tsconfig.json',
      ].sort(),
    );
    expect(readdirSync(join(context, 'lambdas', 'aws')).sort()).toEqual(['emf-events.ts', 'metric-names.ts']);
    expect(existsSync(join(context, 'gpu-validator', 'Dockerfile'))).toBe(true);
  }, 120_000);
});

describe('npm run image:build / image:push', () => {
  const SHA = 'c'.repeat(40);
  const REPO = '123456789012.dkr.ecr.eu-west-1.amazonaws.com/modelgate-validator';

  it('builds for linux/amd64 tagged with the git sha, and pushes that tag after an ECR login', () => {
    expect(imageSteps(SHA).map(stepLine)).toEqual([
      `docker build --platform linux/amd64 --file gpu-validator/Dockerfile --tag ${LOCAL_IMAGE}:${SHA} --label org.opencontainers.image.revision=${SHA} .`,
    ]);
    expect(imageSteps(SHA, REPO).slice(1).map(stepLine)).toEqual([
      'aws ecr get-login-password --region eu-west-1 | docker login --username AWS --password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com',
      `docker tag ${LOCAL_IMAGE}:${SHA} ${REPO}:${SHA}`,
      `docker push ${REPO}:${SHA}`,
    ]);
    expect(parseRepository(`${REPO.replace('amazonaws.com', 'amazonaws.com.cn')}`).region).toBe('eu-west-1');
  });

  const script = (...args: string[]) =>
    spawnSync(
      process.execPath,
      [repoPath('node_modules/tsx/dist/cli.mjs'), 'scripts/validator-image.ts', ...args],
      {
        cwd: repoPath(),
        encoding: 'utf8',
      },
    );

  it('--dry-run prints the exact commands for HEAD and runs none', () => {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: repoPath(), encoding: 'utf8' }).trim();
    const r = script('push', '--dry-run', '--allow-dirty', '--repository', REPO);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(imageSteps(head, REPO).map(stepLine));
  }, 60_000);

  it('refuses a repository that is not an ECR URI, naming the flag (exit 2)', () => {
    const r = script('push', '--dry-run', '--allow-dirty', '--repository', 'docker.io/me/validator');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('error: --repository: must be an ECR repository URI');
    expect(r.stdout).toBe('');
  }, 60_000);
});
