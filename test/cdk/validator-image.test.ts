import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { addModelgateStacks, createApp } from '../../cdk/modelgate-app.js';
import { repoPath } from '../../cdk/paths.js';

/**
 * The default image source: gpu-validator/Dockerfile as a Docker asset. Synth only stages the build
 * context (no Docker needed); Lambda bundling is skipped here (`aws:cdk:bundling-stacks: []`) since
 * modelgate-stacks.test.ts covers it, so this synth stays cheap.
 */
const hasDockerfile = existsSync(repoPath('gpu-validator', 'Dockerfile'));
const outdir = mkdtempSync(join(tmpdir(), 'modelgate-cdk-image-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

const newApp = () => createApp({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });

it.skipIf(hasDockerfile)(
  'without gpu-validator/Dockerfile, refuses the asset source and names both fixes (runs only in a checkout without the Dockerfile)',
  () => {
    expect(() => addModelgateStacks(newApp())).toThrow(
      /gpu-validator\/Dockerfile does not exist.*validatorImage=ecr/,
    );
  },
);

it.skipIf(!hasDockerfile)(
  'stages gpu-validator/Dockerfile with the repository root as build context, for linux/amd64 (needs the Dockerfile)',
  () => {
    const app = newApp();
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
    // node_modules and build output are not copied into the build context.
    const context = join(assembly.directory, images[0]!.source.directory);
    expect(existsSync(join(context, 'gpu-validator', 'Dockerfile'))).toBe(true);
    expect(existsSync(join(context, 'node_modules'))).toBe(false);
  },
  120_000,
);
