import { describe, expect, it } from 'vitest';
import {
  countExecutionProviderNodes,
  executionProviderShortName,
  judgePlacement,
} from '../../gpu-validator/execution-provider-placement.js';

/** Events as onnxruntime-node 1.30's profiler writes them (shortened; a CUDA run names CUDAExecutionProvider). */
const event = (cat: string, name: string, provider?: string) =>
  JSON.stringify({
    cat,
    pid: 1,
    tid: 1,
    dur: 9,
    ts: 3,
    ph: 'X',
    name,
    args: provider ? { op_name: 'MatMul', provider } : {},
  });

const profile = (...events: string[]) => `[\n${events.join(',\n')}\n]\n`;

describe('countExecutionProviderNodes', () => {
  it('counts node events per provider and ignores session events', () => {
    const text = profile(
      event('Session', 'model_loading_uri'),
      event('Session', 'session_initialization'),
      event('Node', 'fused /MatMulAddFusion_kernel_time', 'CUDAExecutionProvider'),
      event('Node', 'Relu_kernel_time', 'CUDAExecutionProvider'),
      event('Node', 'NonMaxSuppression_kernel_time', 'CPUExecutionProvider'),
      event('Session', 'SequentialExecutor::Execute'),
    );
    expect(countExecutionProviderNodes(text)).toEqual({ cuda: 2, cpu: 1 });
  });

  it('maps the runtime names to the session option names', () => {
    expect(executionProviderShortName('CPUExecutionProvider')).toBe('cpu');
    expect(executionProviderShortName('CUDAExecutionProvider')).toBe('cuda');
    expect(executionProviderShortName('TensorrtExecutionProvider')).toBe('tensorrt');
  });
});

describe('judgePlacement', () => {
  it('names the first requested provider that ran nodes, with no fallback when it is the first', () => {
    expect(judgePlacement(['cuda', 'cpu'], { cuda: 40, cpu: 2 })).toEqual({ executionProvider: 'cuda' });
  });

  it('records a fallback to a provider that was also requested', () => {
    expect(judgePlacement(['cuda', 'cpu'], { cpu: 42 })).toEqual({
      executionProvider: 'cpu',
      fallback: 'cuda → cpu',
    });
  });

  it('fails when only an unrequested provider ran: GPU_UNAVAILABLE for cuda, DEPENDENCY_MISSING otherwise', () => {
    const gpu = judgePlacement(['cuda'], { cpu: 42 });
    expect(gpu.failure?.code).toBe('GPU_UNAVAILABLE');
    expect(gpu.failure?.message).toContain('42 on cpu');
    expect(judgePlacement(['webgpu'], { cpu: 3 }).failure?.code).toBe('DEPENDENCY_MISSING');
  });

  it('claims nothing against the request without node events', () => {
    expect(judgePlacement(['cuda'], {})).toEqual({ executionProvider: 'cuda' });
  });
});
