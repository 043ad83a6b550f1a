import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { TensorInfo } from '../schemas/report.schema.js';
import type { ChildMessage, ChildRequest, FailureMessage, LoadRequest } from './child-protocol.js';
import type { LoadStage } from './classify.js';
import { LoadFailure } from './load-failure.js';
import { readGpuBytesForPid, readGpuMemoryUsed } from './nvidia-smi.js';
import { readProcStatusBytes } from './proc-status.js';
import { checkOutputs, resolveShape, synthesizeTensor } from './synthesize-inputs.js';

/**
 * The loader child (DESIGN.md Validation step 3): imports onnxruntime-node, creates a session for one
 * model, runs it once on synthesized inputs and reports over IPC. It runs in its own process so that a
 * crash, a hang or a memory blow-up of the runtime costs this process, never the validator.
 * The request arrives as JSON in argv[2]: nothing can race it.
 */

type Ort = typeof import('onnxruntime-node');

let stage: LoadStage = 'import';
let partial: Partial<FailureMessage> = {};

function send(message: ChildMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send) return resolve();
    process.send(message, undefined, {}, () => resolve());
  });
}

async function enter(next: LoadStage): Promise<void> {
  stage = next;
  await send({ type: 'stage', stage: next });
}

async function importRuntime(): Promise<Ort> {
  const mod = (await import('onnxruntime-node')) as Ort & { default?: Ort };
  // CommonJS package: depending on the loader, its exports are the namespace or its default.
  return mod.default ?? mod;
}

function tensorInfo(meta: InferenceSession.ValueMetadata): TensorInfo {
  if (!meta.isTensor) return { name: meta.name, type: 'non-tensor', shape: [] };
  return { name: meta.name, type: meta.type, shape: meta.shape.map((d) => (d === -1 ? '?' : d)) };
}

/**
 * nvidia-smi's figure for our pid; where a container's PID namespace hides our pid from it, the growth of
 * the GPUs' total use since before the load.
 */
async function ownGpuBytes(usedBefore: number | undefined): Promise<number | undefined> {
  const own = await readGpuBytesForPid(process.pid);
  if (own !== undefined) return own;
  const usedAfter = await readGpuMemoryUsed();
  return usedBefore !== undefined && usedAfter !== undefined
    ? Math.max(0, usedAfter - usedBefore)
    : undefined;
}

async function load(request: LoadRequest): Promise<void> {
  await enter('import');
  const ort = await importRuntime();
  const runtimeVersion = ort.env.versions.node ?? ort.env.versions.common;
  partial.runtimeVersion = runtimeVersion;
  // Other processes may share the GPU: the total before our load is the fallback's zero point.
  const gpuUsedBefore = request.measureGpu ? await readGpuMemoryUsed() : undefined;
  await enter('load');
  const loadStart = performance.now();
  const session = await ort.InferenceSession.create(request.modelPath, {
    executionProviders: request.executionProviders,
  });
  const loadMs = performance.now() - loadStart;
  const inputs = session.inputMetadata.map(tensorInfo);
  const outputs = session.outputMetadata.map(tensorInfo);
  partial = { ...partial, loadMs, inputs, outputs };
  // The smoke run starts with its inputs: at served shapes they can be a large part of the peak.
  await enter('run');
  const shapes: Record<string, number[]> = {};
  const feeds: Record<string, Tensor> = {};
  for (const input of inputs) {
    if (input.type === 'non-tensor')
      throw new LoadFailure('CONFIG_INVALID', `input "${input.name}" is not a tensor`);
    shapes[input.name] = resolveShape(input, request.inputShapes[input.name], request.defaultDim);
    feeds[input.name] = synthesizeTensor(ort.Tensor, input, shapes[input.name] as number[]);
  }
  partial.inputShapes = shapes;
  const runStart = performance.now();
  const results = await session.run(feeds);
  const inferenceMs = performance.now() - runStart;
  partial.inferenceMs = inferenceMs;
  checkOutputs(results);
  await send({
    type: 'result',
    runtimeVersion,
    loadMs,
    inferenceMs,
    inputs,
    outputs,
    inputShapes: shapes,
    executionProvider: request.executionProviders[0] ?? 'cpu',
    vmHwmBytes: readProcStatusBytes('self', 'VmHWM'),
    gpuBytes: request.measureGpu ? await ownGpuBytes(gpuUsedBefore) : undefined,
  });
}

async function baseline(): Promise<void> {
  const ort = await importRuntime();
  await send({
    type: 'baseline',
    runtimeVersion: ort.env.versions.node ?? ort.env.versions.common,
    vmHwmBytes: readProcStatusBytes('self', 'VmHWM'),
  });
}

async function main(): Promise<void> {
  // Orphaned (the validator died): nobody will read our result, so do not keep the machine busy.
  process.on('disconnect', () => process.exit(1));
  const request = JSON.parse(process.argv[2] ?? '{}') as ChildRequest;
  try {
    if (request.kind === 'baseline') await baseline();
    else await load(request);
  } catch (error) {
    const failure = error instanceof LoadFailure ? error : undefined;
    await send({
      ...partial,
      type: 'failure',
      stage,
      message: error instanceof Error ? error.message : String(error),
      ...(failure?.code ? { code: failure.code } : {}),
      vmHwmBytes: readProcStatusBytes('self', 'VmHWM'),
    });
  }
  // Exit explicitly: the runtime's thread pool would otherwise keep the child alive.
  process.exit(0);
}

await main();
