import type { LoadErrorCode } from '../schemas/error-codes.schema.js';
import type { TensorInfo } from '../schemas/report.schema.js';
import type { LoadStage } from './classify.js';

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
}

export interface BaselineRequest {
  kind: 'baseline';
}

export type ChildRequest = LoadRequest | BaselineRequest;

export interface StageMessage {
  type: 'stage';
  stage: LoadStage;
}

export interface LoadResultMessage {
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

export interface FailureMessage {
  type: 'failure';
  stage: LoadStage;
  message: string;
  /** Set when the child knows the cause itself (NaN output, unusable input shapes). */
  code?: LoadErrorCode;
  runtimeVersion?: string;
  loadMs?: number;
  inferenceMs?: number;
  inputs?: TensorInfo[];
  outputs?: TensorInfo[];
  inputShapes?: Record<string, number[]>;
  vmHwmBytes?: number;
}

export interface BaselineMessage {
  type: 'baseline';
  runtimeVersion: string;
  vmHwmBytes?: number;
}

export type ChildMessage = StageMessage | LoadResultMessage | FailureMessage | BaselineMessage;
