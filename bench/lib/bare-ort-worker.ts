/**
 * Bare onnxruntime-node, nothing of the validator in it, for bench/corpus.ts: for each test-case folder
 * read from stdin (one a line), create a session for `model.onnx` and run it once with the official
 * inputs `test_data_set_0/input_K.pb`, then print a JSON line {dir, load: 'ok'|'failed', run:
 * 'ok'|'failed'|'unfeedable', matches, error}; `matches` says whether its outputs equal the expected
 * `output_K.pb` by the rule the validator uses (sample-io.ts): a random op (Bernoulli, training-mode
 * Dropout) or a reference the runtime differs from cannot match, whoever runs it. A crash of the runtime kills this process: the parent marks that
 * folder and starts a new worker for the rest.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import ort from 'onnxruntime-node';
import { compareSample } from '../../gpu-validator/sample-io.js';
import { parseTensorProto } from '../../gpu-validator/tensor-proto.js';

function matchesExpected(
  set: string,
  session: ort.InferenceSession,
  results: Record<string, ort.Tensor>,
): boolean {
  const names = readdirSync(set).filter((n) => /^output_\d+\.pb$/.test(n));
  names.sort((a, b) => Number(a.slice(7, -3)) - Number(b.slice(7, -3)));
  try {
    const tensors = names.map((n) => parseTensorProto(n, readFileSync(join(set, n))));
    const outputNames = session.outputNames;
    const byName = tensors.every((t) => outputNames.includes(t.name));
    const expected = tensors.map((t, k) => ({
      name: (byName ? t.name : outputNames[k]) ?? t.name,
      tensor: t,
    }));
    compareSample({ dir: 'test_data_set_0', inputs: [], outputs: [] }, expected, results);
    return true;
  } catch {
    return false;
  }
}

async function runCase(dir: string): Promise<Record<string, unknown>> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(join(dir, 'model.onnx'));
  } catch (error) {
    return { dir, load: 'failed', error: (error as Error).message.slice(0, 300) };
  }
  const set = join(dir, 'test_data_set_0');
  const names = existsSync(set) ? readdirSync(set).filter((n) => /^input_\d+\.pb$/.test(n)) : [];
  names.sort((a, b) => Number(a.slice(6, -3)) - Number(b.slice(6, -3)));
  const feeds: Record<string, ort.Tensor> = {};
  try {
    const tensors = names.map((n) => parseTensorProto(n, readFileSync(join(set, n))));
    const inputNames = session.inputNames;
    const byName = tensors.every((t) => inputNames.includes(t.name));
    tensors.forEach((t, k) => {
      const name = byName ? t.name : inputNames[k];
      if (name) feeds[name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
    });
  } catch (error) {
    return { dir, load: 'ok', run: 'unfeedable', error: (error as Error).message.slice(0, 300) };
  }
  const fetches = session.outputMetadata.filter((o) => o.isTensor).map((o) => o.name);
  try {
    const results = await session.run(feeds, fetches);
    return { dir, load: 'ok', run: 'ok', matches: matchesExpected(set, session, results) };
  } catch (error) {
    return { dir, load: 'ok', run: 'failed', error: (error as Error).message.slice(0, 300) };
  } finally {
    await session.release();
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  if (!line) continue;
  process.stdout.write(`${JSON.stringify(await runCase(line))}\n`);
}
process.exit(0);
