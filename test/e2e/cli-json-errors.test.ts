import { describe, expect, it } from 'vitest';
import { useServer } from './use-server.js';

/** Under --json a deploy script reads stdout: an error is the API's envelope there, with the same exit code. */
describe('CLI errors under --json', () => {
  const { run } = useServer();

  it('prints a refused status as one JSON error document on stdout, exit 4, and the line on stderr', async () => {
    const r = await run('status', 'nosuch@1.0.0', '--json');
    expect(r.code).toBe(4);
    const doc = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    expect(doc.error.code).toBe('NOT_FOUND');
    expect(doc.error.message).toContain('nosuch');
    expect(r.stderr).toMatch(/^error NOT_FOUND: /m);
  });

  it('prints a usage error as a JSON document too (exit 2)', async () => {
    const r = await run('status', 'Not A Name', '--json');
    expect(r.code).toBe(2);
    expect((JSON.parse(r.stdout) as { error: { code: string } }).error.code).toBe('USAGE');
  });

  it('keeps stdout empty without --json', async () => {
    const r = await run('status', 'nosuch@1.0.0');
    expect(r.code).toBe(4);
    expect(r.stdout).toBe('');
  });
});
