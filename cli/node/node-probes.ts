import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { freemem } from 'node:os';
import type { GpuProbe } from '../../core/node-doctor.js';

/**
 * What `doctor` asks the node, each behind one function so the rules (core/node-doctor.ts) are tested
 * on plain facts: free memory, free disk, the GPU, and the runtime this node would load models with.
 */
export interface NodeProbes {
  /** MemAvailable in bytes (what libuv's freemem reads from /proc/meminfo on Linux). */
  memAvailable(): Promise<number>;
  /** Bytes an unprivileged user may still write on the file system holding `dir`. */
  diskFree(dir: string): Promise<number>;
  gpu(): Promise<GpuProbe>;
  runtime(): Promise<RuntimeProbe>;
}

/** The node's onnxruntime-node: its version and execution providers, or why it could not be loaded. */
export interface RuntimeProbe {
  version?: string;
  providers: string[];
  error?: string;
}

const PROBE_TIMEOUT_MS = 20_000;

function run(file: string, args: string[]): Promise<{ ok: boolean; stdout: string; error?: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: PROBE_TIMEOUT_MS }, (error, stdout, stderr) => {
      if (!error) resolve({ ok: true, stdout });
      else
        resolve({
          ok: false,
          stdout,
          error:
            (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'ENOENT' : stderr.trim() || error.message,
        });
    });
  });
}

/** `nvidia-smi -L` lists one line per GPU; /proc/driver/nvidia exists once the kernel driver is loaded. */
async function probeGpu(): Promise<GpuProbe> {
  const driverLoaded = existsSync('/proc/driver/nvidia');
  const smi = await run('nvidia-smi', ['-L']);
  if (smi.ok && /GPU \d+/.test(smi.stdout)) return { nvidiaSmi: 'ok', driverLoaded };
  if (smi.error === 'ENOENT') return { nvidiaSmi: 'absent', driverLoaded };
  const detail = (smi.error ?? smi.stdout).split('\n')[0]?.slice(0, 200);
  return { nvidiaSmi: 'failed', driverLoaded, ...(detail ? { detail } : {}) };
}

/**
 * The runtime is loaded in a child process, as the validator does: a broken native library (the
 * runbook's "ldd … not found") must name itself, not crash doctor.
 */
const RUNTIME_SCRIPT = `
const [main, pkg] = process.argv.slice(1);
const ort = require(main);
const version = require(pkg).version;
process.stdout.write(JSON.stringify({ version, providers: ort.listSupportedBackends().map((b) => b.name) }));
`;

/** The runtime this installation of modelgate resolves (not whatever the working folder holds). */
function runtimePaths(): [string, string] | undefined {
  try {
    const require = createRequire(import.meta.url);
    return [require.resolve('onnxruntime-node'), require.resolve('onnxruntime-node/package.json')];
  } catch {
    return undefined;
  }
}

async function probeRuntime(): Promise<RuntimeProbe> {
  const paths = runtimePaths();
  if (!paths) return { providers: [], error: 'onnxruntime-node is not installed' };
  const answer = await run(process.execPath, ['-e', RUNTIME_SCRIPT, ...paths]);
  if (!answer.ok)
    return { providers: [], error: (answer.error ?? 'no answer').split('\n').slice(-3).join(' ') };
  try {
    const parsed = JSON.parse(answer.stdout) as { version?: unknown; providers?: unknown };
    return {
      ...(typeof parsed.version === 'string' ? { version: parsed.version } : {}),
      providers: Array.isArray(parsed.providers) ? parsed.providers.filter((p) => typeof p === 'string') : [],
    };
  } catch {
    return { providers: [], error: 'the runtime probe answered something that is not JSON' };
  }
}

export const nodeProbes: NodeProbes = {
  memAvailable: async () => freemem(),
  diskFree: async (dir) => {
    const s = await statfs(dir);
    return s.bavail * s.bsize;
  },
  gpu: probeGpu,
  runtime: probeRuntime,
};
