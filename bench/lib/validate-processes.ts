import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { build } from 'esbuild';

/** Processes bench/validate.ts measures: the bare runtime, and the validator as bundled JavaScript. */

const ROOT = join(import.meta.dirname, '..', '..');
const REFERENCE = join(ROOT, 'test', 'fixtures', 'ort-reference-run.mjs');
const TIME = '/usr/bin/time';

export interface BareRun {
  /** Wall time of the whole process: start, import, InferenceSession.create, one run, exit. */
  ms: number;
  /** GNU time's "Maximum resident set size". */
  maxRssBytes: number;
}

/**
 * A fresh `node` that loads and runs the model with nothing of modelgate in it (the same reference the
 * memory-accuracy unit test uses), under `/usr/bin/time -v` for its peak RSS. The wrapper's own cost is
 * a fork and a wait: well under a millisecond.
 */
export function bareRuntimeRun(modelPath: string): Promise<BareRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(TIME, ['-v', process.execPath, REFERENCE, modelPath, '{}'], { cwd: ROOT });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - started;
      const match = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr);
      if (code !== 0 || !match) reject(new Error(`reference run failed (${code}): ${stderr.slice(-500)}`));
      else resolve({ ms, maxRssBytes: Number(match[1]) * 1024 });
    });
  });
}

/**
 * Bundles the driver, the loader child and the inspection worker side by side (the engine finds
 * `./load-child.js` and `./inspect-worker.js` next to itself, as in dist/). The folder is under node_modules so that the external `onnxruntime-node`
 * resolves as it does for the CLI.
 */
export async function bundleValidator(): Promise<string> {
  const outdir = join(ROOT, 'node_modules', '.cache', 'modelgate-bench-validate');
  await build({
    entryPoints: {
      'validate-driver': join(ROOT, 'bench', 'lib', 'validate-driver.ts'),
      'load-child': join(ROOT, 'gpu-validator', 'load-child.ts'),
      'inspect-worker': join(ROOT, 'gpu-validator', 'inspect-worker.ts'),
    },
    outdir,
    outExtension: { '.js': '.js' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['onnxruntime-node'],
    // The CommonJS parts of zod/protobuf need `require` inside an ES module bundle.
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    logLevel: 'warning',
  });
  return join(outdir, 'validate-driver.js');
}

export interface ValidationRound {
  ms: number;
  outcome: string;
  error?: string;
  peakRssBytes?: number;
  baselineRssBytes?: number;
  loadMs?: number;
}

/** A long-lived validator process (a server's worker): each `round()` validates the file once more. */
export class ValidatorProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly lines: Interface;
  private readonly pending: Array<(line: string) => void> = [];
  private stderr = '';

  constructor(driver: string, file: Record<string, unknown>) {
    this.child = spawn(process.execPath, [driver, 'validate', JSON.stringify(file)], { cwd: ROOT });
    this.child.stderr.on('data', (d) => {
      this.stderr += d;
    });
    this.lines = createInterface({ input: this.child.stdout });
    this.lines.on('line', (line) => this.pending.shift()?.(line));
  }

  round(): Promise<ValidationRound> {
    return new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`validator exited ${code}: ${this.stderr}`));
      this.child.once('exit', onExit);
      this.pending.push((line) => {
        this.child.off('exit', onExit);
        resolve(JSON.parse(line) as ValidationRound);
      });
      this.child.stdin.write('\n');
    });
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin.end();
    await exited;
  }
}

export interface InspectionRun {
  ms: number;
  bytesRead: number;
  fileSize: number;
  vmHwmBytes: number;
}

/** Inspection alone, in a fresh process whose VmHWM is the inspector's peak memory. */
export function inspectInProcess(driver: string, modelPath: string): Promise<InspectionRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [driver, 'inspect', modelPath], { cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(JSON.parse(stdout.trim()) as InspectionRun);
      else reject(new Error(`inspect exited ${code}: ${stderr}`));
    });
  });
}
