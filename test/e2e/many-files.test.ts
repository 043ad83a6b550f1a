import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UPLOAD_TARGETS_PAGE } from '../../schemas/version.schema.js';
import { api, BACKENDS } from './harness.js';
import { useServer } from './use-server.js';

/**
 * A version of more new files than one declaration answers upload targets for (UPLOAD_TARGETS_PAGE: on
 * AWS, all presigned URLs of a few thousand files at once would pass a Lambda's 6 MB answer): the real CLI
 * gathers every page, uploads each blob once, and the version is VERIFIED with every file.
 */
describe.each(BACKENDS)('a version of many new files (%s backend)', (backend) => {
  const fixture = useServer({ backend });

  it('publishes every file though its upload targets come in pages', async () => {
    const count = UPLOAD_TARGETS_PAGE * 2 + 3;
    const dir = join(fixture.work, 'shards');
    mkdirSync(dir, { recursive: true });
    for (let n = 0; n < count; n++) writeFileSync(join(dir, `shard-${n}.txt`), `bytes of shard ${n}\n`);
    const first = await api(fixture.server, 'POST', '/api/v1/models', { name: 'sharded', provider: 'p' });
    expect(first.status).toBe(201);

    const published = await fixture.run('publish', 'sharded@1', dir, '--wait');
    expect(published.code, published.stderr).toBe(0);
    expect(published.stderr).toContain(`uploaded ${count} new blob(s)`);
    const status = JSON.parse((await fixture.run('status', 'sharded@1', '--json')).stdout);
    expect(status.status).toBe('VERIFIED');
    expect(status.files).toHaveLength(count);
  }, 180_000);
});
