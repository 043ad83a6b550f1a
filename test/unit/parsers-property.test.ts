import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectGguf } from '../../gpu-validator/gguf-inspect.js';
import { LoadFailure } from '../../gpu-validator/load-failure.js';
import { inspectOnnx } from '../../gpu-validator/onnx-inspect.js';
import { inspectSafetensors } from '../../gpu-validator/safetensors-inspect.js';
import { inspectZip } from '../../gpu-validator/zip-inspect.js';
import { buildGguf, buildPytorchZip, buildSafetensors } from '../fixtures/model-formats.js';
import { buildExternalDataModel, buildMlpModel } from '../fixtures/onnx-writer.js';

/**
 * Every parser of untrusted model files, fed mutated and crafted bytes (flipped bits, overwritten bytes,
 * cuts, insertions, negative and huge varints, huge little-endian counts and lengths): each call either
 * returns or throws the project's own LoadFailure, within 1 s, without growing the heap by more than a
 * bound. A parser that loops, recurses without end or allocates what a length claims fails here.
 */

const PER_CALL_MS = 1000;
const HEAP_GROWTH_BYTES = 64 * 1024 * 1024;

let dir: string;
let n = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'parsers-property-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Parser = (path: string) => unknown;

const PARSERS: Record<string, { parse: Parser; seeds: Buffer[] }> = {
  onnx: {
    parse: inspectOnnx,
    seeds: [buildMlpModel({ layers: 2, dim: 4 }), buildExternalDataModel('w.bin').model],
  },
  safetensors: {
    parse: inspectSafetensors,
    seeds: [
      buildSafetensors(
        [
          { name: 'a', dtype: 'F32', shape: [2, 3] },
          { name: 'b', dtype: 'I64', shape: [4] },
        ],
        { format: 'pt' },
      ),
    ],
  },
  gguf: {
    parse: inspectGguf,
    seeds: [
      buildGguf([
        { name: 't', dims: [8, 4] },
        { name: 'u', dims: [16] },
      ]),
    ],
  },
  zip: { parse: inspectZip, seeds: [buildPytorchZip()] },
};

/** A varint that decodes to a negative int64 (10 bytes), or to a length far past any file. */
const hostileVarint = fc.constantFrom(
  Buffer.from([0x80, 0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
  Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
  Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]),
  Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
  Buffer.from([0x12, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
  Buffer.from([0x3a, 0x80, 0x80, 0x80, 0x80, 0x10]),
);

/** A little-endian u64/u32 that is huge, just past the end, or all ones. */
const hostileLe = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(v);
    return b;
  }),
  fc.integer({ min: 0, max: 2 ** 32 - 1 }).map((v) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    return b;
  }),
);

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'cut'; at: number }
  | { kind: 'insert'; at: number; bytes: Buffer }
  | { kind: 'overwrite'; at: number; bytes: Buffer }
  | { kind: 'nest'; depth: number };

const position = fc.double({ min: 0, max: 1, noNaN: true });
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: position, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: position, byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: position }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: position,
    bytes: fc.oneof(hostileVarint, hostileLe),
  }),
  fc.record({
    kind: fc.constant('overwrite' as const),
    at: position,
    bytes: fc.oneof(hostileVarint, hostileLe),
  }),
  fc.record({ kind: fc.constant('nest' as const), depth: fc.integer({ min: 1, max: 2000 }) }),
) as fc.Arbitrary<Mutation>;

function apply(seed: Buffer, mutations: Mutation[]): Buffer {
  let b = Buffer.from(seed);
  for (const m of mutations) {
    const at = 'at' in m ? Math.min(b.length, Math.floor(m.at * b.length)) : 0;
    if (m.kind === 'flip' && at < b.length) b[at] = (b[at] as number) ^ (1 << m.bit);
    else if (m.kind === 'set' && at < b.length) b[at] = m.byte;
    else if (m.kind === 'cut') b = b.subarray(0, at);
    else if (m.kind === 'insert') b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
    else if (m.kind === 'overwrite') {
      b = Buffer.from(b);
      m.bytes.copy(b, at);
    } else if (m.kind === 'nest') {
      // Deeply nested ONNX messages: a graph (field 7) inside a graph, each a length-prefixed LEN field.
      let inner = Buffer.alloc(0);
      for (let i = 0; i < m.depth; i++)
        inner = Buffer.concat([Buffer.from([0x3a]), varint(inner.length), inner]);
      b = Buffer.concat([b, inner]);
    }
  }
  return b;
}

function varint(value: number): Buffer {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** Runs the parser on the bytes: it must return or throw LoadFailure, in time, within the heap bound. */
async function checkParser(parse: Parser, bytes: Buffer): Promise<void> {
  const path = join(dir, `f-${n++}`);
  writeFileSync(path, bytes);
  const heapBefore = process.memoryUsage().heapUsed;
  const started = performance.now();
  try {
    const result = (await parse(path)) as { staticMemoryEstimateBytes?: number } | undefined;
    // Whatever a file claims, the totals stay finite integers a memory check can compare.
    if (result?.staticMemoryEstimateBytes !== undefined)
      expect(Number.isSafeInteger(result.staticMemoryEstimateBytes)).toBe(true);
  } catch (error) {
    if (!(error instanceof LoadFailure)) {
      throw new Error(`not a LoadFailure: ${(error as Error)?.stack ?? String(error)}`);
    }
  } finally {
    rmSync(path, { force: true });
  }
  const elapsed = performance.now() - started;
  expect(elapsed).toBeLessThan(PER_CALL_MS);
  expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(HEAP_GROWTH_BYTES);
}

describe('every file parser under mutated and crafted bytes', () => {
  for (const [name, { parse, seeds }] of Object.entries(PARSERS)) {
    it(`${name}: only LoadFailure, each call under 1 s, bounded memory`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...seeds),
          fc.array(mutation, { minLength: 1, maxLength: 4 }),
          async (seed, mutations) => checkParser(parse, apply(seed, mutations)),
        ),
        { numRuns: 250 },
      );
    }, 120_000);

    it(`${name}: random bytes of any length`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), async (bytes) =>
          checkParser(parse, Buffer.from(bytes)),
        ),
        { numRuns: 150 },
      );
    }, 120_000);
  }

  it('the crafted negative length of the inspector-negative-length case fails every parser as LoadFailure', async () => {
    const crafted = Buffer.concat([
      Buffer.from([0xa2, 0x01, 0xf1, 0x0f]),
      Buffer.alloc(2033, 0x41),
      Buffer.from([0x12, 0x80, 0xf0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
    ]);
    for (const { parse } of Object.values(PARSERS)) {
      await expect(Promise.resolve().then(() => parse(writeTemp(crafted)))).rejects.toBeInstanceOf(
        LoadFailure,
      );
    }
  });
});

function writeTemp(bytes: Buffer): string {
  const path = join(dir, `c-${n++}`);
  writeFileSync(path, bytes);
  return path;
}
