/**
 * Runs ONE file operation in its own process and prints {"vmHwmKiB": …, "ms": …} on stdout, so that the
 * benchmark measures the peak RSS (VmHWM: the kernel's high-water mark for the process) of that
 * operation alone. Usage:
 *   publish <file>
 *   install <url> <dest> <manifest-file-json>
 */
import { readFileSync } from 'node:fs';
import { installVersion } from '../../cli/files/install-dir.js';
import type { ManifestFile, Version } from '../../schemas/version.schema.js';
import { hashAsPublish } from './publish-hash.js';

function vmHwmKiB(): number {
  const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (!match) throw new Error('no VmHWM in /proc/self/status');
  return Number(match[1]);
}

function benchVersion(file: ManifestFile): Version {
  const now = new Date().toISOString();
  return {
    model: 'bench',
    version: 'v1',
    seq: 1,
    provider: 'bench',
    status: 'VERIFIED',
    files: [file],
    totalSize: file.size,
    inputShapes: {},
    publisher: 'bench',
    createdAt: now,
    updatedAt: now,
    validation: { attempts: 1 },
  };
}

async function runInstall(url: string, dest: string, manifestJson: string): Promise<void> {
  const file = JSON.parse(manifestJson) as ManifestFile;
  const download = { url, method: 'GET' as const, headers: {}, expiresAt: '2100-01-01T00:00:00Z' };
  await installVersion({ dest, version: benchVersion(file), files: [{ ...file, download }] });
}

const [mode, ...args] = process.argv.slice(2);
const started = performance.now();
if (mode === 'publish' && args[0]) await hashAsPublish(args[0]);
else if (mode === 'install' && args.length === 3) await runInstall(args[0]!, args[1]!, args[2]!);
else throw new Error(`usage: peak-rss-child publish FILE | install URL DEST MANIFEST_JSON (got ${mode})`);
process.stdout.write(`${JSON.stringify({ vmHwmKiB: vmHwmKiB(), ms: performance.now() - started })}\n`);
