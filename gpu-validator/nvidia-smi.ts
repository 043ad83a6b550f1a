import { execFile } from 'node:child_process';

/**
 * GPU memory per process from nvidia-smi (DESIGN.md Validation step 3). Only node stdlib: the loader
 * child imports this module.
 */

const MIB = 1024 * 1024;
const QUERY_TIMEOUT_MS = 5000;

/**
 * Parses `nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits` into pid → bytes.
 * A process on several GPUs appears once per GPU: its lines are summed. Lines whose memory is not a
 * number ("[N/A]" under MIG or without permission) are left out rather than counted as 0.
 */
export function parseComputeApps(csv: string): Map<number, number> {
  const usage = new Map<number, number>();
  for (const line of csv.split('\n')) {
    const [pidText, memoryText] = line.split(',').map((s) => s.trim());
    if (!pidText || !memoryText || !/^\d+$/.test(pidText) || !/^\d+(\.\d+)?$/.test(memoryText)) continue;
    const pid = Number(pidText);
    usage.set(pid, (usage.get(pid) ?? 0) + Math.round(Number(memoryText) * MIB));
  }
  return usage;
}

/** Parses `--query-gpu=memory.used --format=csv,noheader,nounits` (MiB per GPU) into total bytes. */
export function parseMemoryUsed(csv: string): number | undefined {
  const values = csv
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => /^\d+(\.\d+)?$/.test(s))
    .map(Number);
  return values.length === 0 ? undefined : Math.round(values.reduce((a, b) => a + b, 0) * MIB);
}

function runNvidiaSmi(args: string[]): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile('nvidia-smi', args, { timeout: QUERY_TIMEOUT_MS }, (error, stdout) => {
      resolve(error ? undefined : stdout);
    });
  });
}

/** This pid's GPU bytes, or undefined when nvidia-smi is absent or does not list it. */
export async function readGpuBytesForPid(pid: number): Promise<number | undefined> {
  const out = await runNvidiaSmi(['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits']);
  return out === undefined ? undefined : parseComputeApps(out).get(pid);
}

/** Total GPU memory in use on all GPUs: the fallback where a PID namespace hides our pid from nvidia-smi. */
export async function readGpuMemoryUsed(): Promise<number | undefined> {
  const out = await runNvidiaSmi(['--query-gpu=memory.used', '--format=csv,noheader,nounits']);
  return out === undefined ? undefined : parseMemoryUsed(out);
}
