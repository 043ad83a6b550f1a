import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildImageModel } from '../fixtures/onnx-writer.js';
import { useServer } from './use-server.js';

/**
 * The memory profile is taken at the shapes a version is served at, since memory grows with them: the
 * same image model published at 1×1 and at 960×960 pixels, through the real CLI against a real server.
 */
describe('validation at the served input shapes', () => {
  const fixture = useServer();
  const { run } = fixture;
  beforeAll(() => writeFileSync(join(fixture.work, 'detector.onnx'), buildImageModel()));

  async function publishAt(version: string, shape: string) {
    const published = await run(
      'publish',
      `det@${version}`,
      'detector.onnx',
      '--input-shape',
      `image=${shape}`,
      '--wait',
    );
    expect(published.code, published.stderr).toBe(0);
    const status = await run('status', `det@${version}`, '--json');
    return JSON.parse(status.stdout);
  }

  it('profiles at 960×960 far above 1×1, and records the shapes it ran', async () => {
    const tiny = await publishAt('1', '1,3,1,1');
    const served = await publishAt('2', '1,3,960,960');
    expect(tiny.status).toBe('VERIFIED');
    expect(served.status).toBe('VERIFIED');
    expect(tiny.inputShapes).toEqual({ image: [1, 3, 1, 1] });
    expect(served.inputShapes).toEqual({ image: [1, 3, 960, 960] });
    expect(tiny.report.files[0].inputShapes).toEqual({ image: [1, 3, 1, 1] });
    expect(served.report.files[0].inputShapes).toEqual({ image: [1, 3, 960, 960] });
    const tinyPeak = tiny.report.totals.peakRssBytes;
    const servedPeak = served.report.totals.peakRssBytes;
    // Input 11 MiB and an 8-channel output of 29 MiB, plus the convolution's workspace, at 960×960.
    expect(servedPeak).toBeGreaterThanOrEqual(1.5 * tinyPeak);
  });

  it('says when the peak was measured at shapes it chose, and says nothing at the served shapes', async () => {
    const chosen = await run('publish', 'det@4', 'detector.onnx', '--wait');
    expect(chosen.code, chosen.stderr).toBe(0);
    const status = await run('status', 'det@4', '--json');
    const notes: string[] = JSON.parse(status.stdout).report.files[0].notes ?? [];
    expect(notes.join('\n')).toMatch(
      /memory profiled at shapes the validator chose.*"image" \[1,3,H,W\] ran as \[1,3,\d+,\d+\]/,
    );
    expect(notes.join('\n')).toContain('--input-shape image=1,3,D,D');
    const human = await run('status', 'det@4');
    expect(human.stdout).toMatch(/note: memory profiled at shapes the validator chose/);
    const served = await publishAt('5', '1,3,32,32');
    expect(JSON.stringify(served.report.files[0].notes ?? [])).not.toContain('memory profiled');
  });

  it('refuses a shape no smoke run could feed before uploading, as the typo it is (exit 2)', async () => {
    const refused = await run(
      'publish',
      'det@3',
      'detector.onnx',
      '--input-shape',
      'image=100000000000000,3',
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /--input-shape image=100000000000000,3: a shape of more than 4294967296 elements/,
    );
    expect((await run('status', 'det@3')).code).not.toBe(0);
  });
});
