import type { LoadErrorCode } from '../schemas/error-codes.schema.js';
import type { FedInput, ProbeAttempt, TensorInfo } from '../schemas/report.schema.js';
import type { LoadStage } from './classify.js';
import type { SampleSet } from './sample-io.js';
import type { InputHint } from './synthesize-inputs.js';

/**
 * The messages between the validator and its loader child (types only: the child imports nothing but
 * node stdlib and onnxruntime-node, so its baseline memory is the runtime's, not ours).
 */

export interface LoadRequest {
  kind: 'load';
  modelPath: string;
  executionProviders: string[];
  /** Input name → dims to run with; inputs not named get their fixed dims and `defaultDim` elsewhere. */
  inputShapes: Record<string, number[]>;
  defaultDim: number;
  /** Ask nvidia-smi for this process's GPU memory after the run. */
  measureGpu: boolean;
  /** Profile the run to learn which execution provider ran each node (execution-provider-placement.ts). */
  detectExecutionProviders: boolean;
  /** Golden I/O (golden-io.ts): run these inputs instead of synthesized ones and compare the outputs. */
  golden?: { localPath: string; path: string };
  /** An ONNX test-data folder (sample-io.ts): its inputs are run and its expected outputs compared. */
  sample?: SampleSet;
  /** How the graph types and consumes each input (input-consumers.ts): values its operators accept. */
  inputHints?: Record<string, InputHint>;
  /** `--input-value NAME=V`: the fill value of that input, instead of a synthesized one. */
  inputValues?: Record<string, number | string>;
  /** Bounds for the probe ladder (probe-ladder.ts): its inputs stay a small share of the budget and time. */
  memoryBudgetBytes?: number;
  timeoutMs?: number;
  /** Default true; false runs the synthesized inputs once (the former behaviour, for benchmarks). */
  probe?: boolean;
}

/** What the child learnt about execution providers and golden outputs (both optional). */
export interface RunFacts {
  /** Node count per execution provider that executed it, from the runtime's profiler. */
  executionProviderNodes?: Record<string, number>;
  /** `cuda → cpu` when the first requested execution provider ran no node. */
  executionProviderFallback?: string;
  golden?: { file: string; tolerance: number; outputs: { name: string; maxAbsDiff: number }[] };
  /** The inputs of the deciding smoke run, the failed runs before it, facts that are not failures. */
  fedInputs?: FedInput[];
  probes?: ProbeAttempt[];
  notes?: string[];
  smokeRun?: 'ran' | 'skipped';
}

export interface BaselineRequest {
  kind: 'baseline';
}

export type ChildRequest = LoadRequest | BaselineRequest;

export interface StageMessage {
  type: 'stage';
  stage: LoadStage;
}

export interface LoadResultMessage extends RunFacts {
  type: 'result';
  runtimeVersion: string;
  loadMs: number;
  inferenceMs: number;
  inputs: TensorInfo[];
  outputs: TensorInfo[];
  inputShapes: Record<string, number[]>;
  executionProvider: string;
  vmHwmBytes?: number;
  gpuBytes?: number;
}

/** What the child learned before it finished or failed: a failure carries as many as it got. */
export interface ChildLoadFacts extends RunFacts {
  runtimeVersion?: string;
  loadMs?: number;
  inferenceMs?: number;
  inputs?: TensorInfo[];
  outputs?: TensorInfo[];
  inputShapes?: Record<string, number[]>;
  executionProvider?: string;
  vmHwmBytes?: number;
  gpuBytes?: number;
}

export interface FailureMessage extends ChildLoadFacts {
  type: 'failure';
  stage: LoadStage;
  message: string;
  /** Set when the child knows the cause itself (NaN output, unusable input shapes). */
  code?: LoadErrorCode;
}

export interface BaselineMessage {
  type: 'baseline';
  runtimeVersion: string;
  vmHwmBytes?: number;
}

export type ChildMessage = StageMessage | LoadResultMessage | FailureMessage | BaselineMessage;
