import type { InferenceSession, Tensor } from 'onnxruntime-node';
import type { FedInput, ProbeAttempt, TensorInfo } from '../schemas/report.schema.js';
import type { LoadRequest, RunFacts } from './child-protocol.js';
import { LoadFailure } from './load-failure.js';
import { RUNTIME_ELEMENT_TYPES } from './onnx-types.js';
import { planAttempts } from './probe-ladder.js';
import { type InputHint, nonFiniteOutputs, synthesizeInput } from './synthesize-inputs.js';

/**
 * The smoke run of the loader child (DESIGN.md Validation step 4) on synthesized inputs, with the probe
 * ladder (probe-ladder.ts): load is the gate, smoke inputs are evidence. Outcomes:
 * - a run succeeds: `fedInputs` says what ran (source `synthesized`, `probe` or `publisher`), `probes`
 *   the runs that failed before it, `notes` any NaN/Inf outputs (not a failure on made-up inputs);
 * - no run succeeds: SAMPLE_INPUTS_REQUIRED (the load was proven; the publisher must say what the model
 *   is served with), or INFERENCE_FAILED when every input was the publisher's own;
 * - an input the runtime cannot feed (a sequence or map; onnxruntime-node's Tensor is its only input
 *   type) or no tensor output to fetch: the smoke run is skipped (`smokeRun: 'skipped'`) with a note, and
 *   the file passes on its proven load. Decided so because the limit is the runtime's binding, not the
 *   model: the model loads, and a node serving it through another binding (Python, C++) can call it.
 *   Failing it would block a model that nothing is wrong with; the note says what the publisher can do.
 * Only node stdlib and the runtime's own objects: this runs inside the child.
 */

type Ort = typeof import('onnxruntime-node');

export interface SmokeOutcome extends RunFacts {
  results?: Record<string, Tensor>;
  inferenceMs?: number;
}

/** At most this share of the memory budget goes to a probe's inputs (8 bytes an element, a rough bound). */
const PROBE_INPUT_SHARE = 16;
const DEFAULT_MAX_PROBE_INPUT_BYTES = 256 * 1024 * 1024;
/** Probing stops once this share of the time limit is spent, leaving the rest to the run that counts. */
const PROBE_TIME_SHARE = 0.5;
const MAX_ERROR_CHARS = 600;

/** What an input needs to be fed; `reason` (and what the publisher can do) when this runtime cannot feed it. */
interface Feedable {
  info: TensorInfo;
  hint?: InputHint;
  reason?: string;
  remedy?: string;
}

const RE_EXPORT_AS_TENSORS =
  're-export it with tensor inputs and outputs to have it smoke-tested (e.g. one tensor per sequence element)';

function feedable(info: TensorInfo, hint: InputHint | undefined): Feedable {
  if (info.type !== 'non-tensor') {
    if (RUNTIME_ELEMENT_TYPES.has(info.type)) return { info, ...(hint ? { hint } : {}) };
    return {
      info,
      reason: `input "${info.name}" is ${info.type}, an element type onnxruntime-node cannot feed`,
      // A tensor of another element type: a Cast at the graph's entrance is the usual way to serve it.
      remedy: `give it a float16 or float32 input followed by a Cast to ${info.type} to have it smoke-tested`,
    };
  }
  // An optional(tensor(T)) input takes a plain tensor of T (onnxruntime accepts it as "present").
  if (hint?.kind === 'optional' && RUNTIME_ELEMENT_TYPES.has(hint.elemType))
    return { info: { name: info.name, type: hint.elemType, shape: hint.shape }, hint };
  const kind = hint && hint.kind !== 'unknown' ? `a ${hint.kind}` : 'not a tensor';
  return {
    info,
    reason: `input "${info.name}" is ${kind}; onnxruntime-node can feed tensors only`,
    remedy: RE_EXPORT_AS_TENSORS,
  };
}

const describeFed = (f: FedInput) => `${f.name} ${f.type}[${f.shape.join(',')}] ${f.value}`;
const shortError = (error: unknown) =>
  (error instanceof Error ? error.message : String(error)).trim().slice(0, MAX_ERROR_CHARS);

function skipped(reason: string, remedy: string): SmokeOutcome {
  return {
    smokeRun: 'skipped',
    notes: [
      `smoke run skipped: ${reason}. The load was proven; no inference could be run in this runtime. ` +
        `A node calling the model through onnxruntime-node cannot feed it either: ${remedy}.`,
    ],
  };
}

interface LadderContext {
  ort: Ort;
  session: InferenceSession;
  request: LoadRequest;
  inputs: Feedable[];
  fetches: string[];
  loadStart: number;
  loadMs: number;
  peakBytes: () => number | undefined;
}

/** Runs the ladder; resolves with the first run that succeeds, else throws the verdict. */
async function runLadder(ctx: LadderContext, onFacts: (facts: RunFacts) => void): Promise<SmokeOutcome> {
  const { request } = ctx;
  const values = request.inputValues ?? {};
  const budget = request.memoryBudgetBytes;
  const plans = planAttempts(
    ctx.inputs.map((i) => i.info),
    request.inputShapes,
    {
      defaultDim: request.defaultDim,
      maxInputBytes: budget ? budget / PROBE_INPUT_SHARE : DEFAULT_MAX_PROBE_INPUT_BYTES,
      ...(request.probe === false ? { maxAttempts: 1 } : {}),
    },
  );
  const probes: ProbeAttempt[] = [];
  for (const [n, plan] of plans.entries()) {
    if (
      n > 0 &&
      request.timeoutMs &&
      performance.now() - ctx.loadStart > request.timeoutMs * PROBE_TIME_SHARE
    )
      break;
    const made = ctx.inputs.map((i) =>
      synthesizeInput(ctx.ort.Tensor, i.info, plan.dims[i.info.name] ?? [], {
        style: plan.style,
        source: n === 0 ? 'synthesized' : 'probe',
        ...(i.hint ? { hint: i.hint } : {}),
        ...(values[i.info.name] !== undefined ? { publisherValue: values[i.info.name] } : {}),
      }),
    );
    const feeds = Object.fromEntries(made.map((m) => [m.fed.name, m.tensor]));
    const fedInputs = made.map((m) => m.fed);
    const start = performance.now();
    try {
      const results = await ctx.session.run(feeds, ctx.fetches);
      const inferenceMs = performance.now() - start;
      return { results, inferenceMs, fedInputs, smokeRun: 'ran', ...(probes.length ? { probes } : {}) };
    } catch (error) {
      probes.push({ inputs: fedInputs, error: shortError(error) });
      onFacts({ probes, fedInputs });
    }
  }
  throw noRunSucceeded(ctx, probes);
}

const MIB = 1024 * 1024;

/** The verdict when no run succeeded: the message carries everything the publisher needs to act. */
function noRunSucceeded(ctx: LadderContext, probes: ProbeAttempt[]): LoadFailure {
  const values = ctx.request.inputValues ?? {};
  const allGiven = ctx.inputs.every((i) => values[i.info.name] !== undefined);
  const first = probes[0];
  const last = probes[probes.length - 1];
  const tried = (p: ProbeAttempt) => `fed ${p.inputs.map(describeFed).join('; ')} → "${p.error}"`;
  const attempts =
    first && last && last !== first ? `${tried(first)}; … last ${tried(last)}` : first ? tried(first) : '';
  if (allGiven) {
    return new LoadFailure('INFERENCE_FAILED', `the smoke run on the publisher's inputs failed: ${attempts}`);
  }
  const peak = ctx.peakBytes();
  const dynamic = ctx.inputs.filter((i) => i.info.shape.some((d) => typeof d !== 'number' || d < 0));
  const control = ctx.inputs.filter((i) => !i.info.type.startsWith('float'));
  const hints = [
    dynamic.length ? `--input-shape ${dynamic.map((i) => `${i.info.name}=…`).join(' ')}` : '',
    control.length ? `--input-value ${control.map((i) => `${i.info.name}=V`).join(' ')}` : '',
    '--sample-inputs PATH (a golden JSON file, or a folder of test_data_set_N/input_K.pb)',
  ].filter(Boolean);
  return new LoadFailure(
    'SAMPLE_INPUTS_REQUIRED',
    `the model loaded in ${ctx.loadMs.toFixed(0)} ms` +
      (peak ? ` at a peak of ${(peak / MIB).toFixed(1)} MiB` : '') +
      ` (the load is proven), but none of ${probes.length} smoke runs on synthesized inputs succeeded: ${attempts}. ` +
      `Say what it is served with: ${hints.join(', or ')}`,
    { attempts: probes.length },
  );
}

/**
 * The smoke run for `session` (inputs/outputs as the runtime declares them). `onFacts` receives the
 * facts learnt so far, so a failure still reports them.
 */
export async function smokeRun(
  args: Omit<LadderContext, 'inputs' | 'fetches'> & { inputs: TensorInfo[]; outputs: TensorInfo[] },
  onFacts: (facts: RunFacts) => void,
): Promise<SmokeOutcome> {
  const inputs = args.inputs.map((i) => feedable(i, args.request.inputHints?.[i.name]));
  const unfeedable = inputs.find((i) => i.reason);
  if (unfeedable?.reason) return skipped(unfeedable.reason, unfeedable.remedy ?? RE_EXPORT_AS_TENSORS);
  // Non-tensor outputs (a ZipMap's sequence of maps) cannot be returned to JS: fetch the tensors only.
  const fetches = args.outputs.filter((o) => o.type !== 'non-tensor').map((o) => o.name);
  if (fetches.length === 0)
    return skipped('the model has no tensor output onnxruntime-node can return', RE_EXPORT_AS_TENSORS);
  const outcome = await runLadder({ ...args, inputs, fetches }, onFacts);
  const nonFinite = nonFiniteOutputs(outcome.results ?? {});
  const values = args.request.inputValues ?? {};
  if (nonFinite.length > 0 && inputs.every((i) => values[i.info.name] !== undefined)) {
    const { results: _results, ...facts } = outcome;
    onFacts(facts);
    throw new LoadFailure('INFERENCE_FAILED', `${nonFinite[0]} on the publisher's inputs`);
  }
  const notes = nonFinite.map(
    (line) =>
      `${line} on synthesized inputs (a note, not a failure: made-up values need not be in the model's domain)`,
  );
  const shapes = profiledShapesNote(args.inputs, args.request.inputShapes, outcome.fedInputs ?? []);
  if (shapes) notes.push(shapes);
  return { ...outcome, ...(notes.length ? { notes } : {}) };
}

const MAX_NAMED_INPUTS = 4;

const isDynamic = (d: TensorInfo['shape'][number]) => typeof d !== 'number' || d < 0;
/** A dim as the model declares it: its symbolic name, `?` when it has none. */
const declaredDim = (d: TensorInfo['shape'][number]) =>
  !isDynamic(d) ? String(d) : typeof d === 'string' && d !== '' ? d : '?';

/**
 * The note for a peak measured at shapes the validator chose: an input with dynamic dims that the
 * publisher gave no `--input-shape` for ran at the ladder's sizes (each dynamic dim 1, or a probe's 64×64 pixels, 16 tokens…), so
 * the profiled peak, which node-class fits and `fetch --free-memory` judge by (peak × 1.5, the runbook's
 * memory rule), can be far below what serving larger inputs takes (DESIGN.md: memory depends on input
 * shape). Undefined when every dynamic input ran at the publisher's shapes (`--input-shape`, a golden
 * file or a sample set).
 */
export function profiledShapesNote(
  declared: readonly TensorInfo[],
  configured: Readonly<Record<string, readonly number[]>>,
  fed: readonly FedInput[],
): string | undefined {
  const ran = declared.flatMap((info) => {
    const given = fed.find((f) => f.name === info.name);
    const chosen =
      given && given.source !== 'golden' && given.source !== 'sample' && configured[info.name] === undefined;
    return chosen && info.shape.some(isDynamic) ? [{ info, given }] : [];
  });
  if (ran.length === 0) return undefined;
  const named = ran.slice(0, MAX_NAMED_INPUTS);
  const more = ran.length > named.length ? ` and ${ran.length - named.length} more` : '';
  const ranAs = named.map(
    ({ info, given }) =>
      `"${info.name}" [${info.shape.map(declaredDim).join(',')}] ran as [${given.shape.join(',')}]`,
  );
  const hints = named.map(
    ({ info }) => `--input-shape ${info.name}=${info.shape.map((d) => (isDynamic(d) ? 'D' : d)).join(',')}`,
  );
  return (
    `memory profiled at shapes the validator chose, not served ones: ${ranAs.join('; ')}${more} ` +
    '(no --input-shape given). Serving larger inputs takes more memory than this peak, and node-class fits ' +
    `and fetch --free-memory judge by it: publish with ${hints.join(' ')} (each D the largest size served) ` +
    'to profile there'
  );
}
