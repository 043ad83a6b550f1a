import { describe, expect, it } from 'vitest';
import { classifyRuntimeError } from '../../gpu-validator/classify.js';
import {
  MAX_MESSAGE_CHARS,
  MAX_NAME_CHARS,
  truncateKeepingEnd,
  truncateText,
  truncateTexts,
  truncationMarker,
  utf8Length,
} from '../../schemas/bounded-text.js';

describe('truncateText', () => {
  it('returns a text that fits unchanged, up to exactly the maximum', () => {
    expect(truncateText('input_ids', MAX_NAME_CHARS)).toBe('input_ids');
    const exact = 'x'.repeat(MAX_NAME_CHARS);
    expect(truncateText(exact, MAX_NAME_CHARS)).toBe(exact);
  });

  it('cuts a longer text to the maximum, keeping its start and saying how long the whole was', () => {
    const name = 'X'.repeat(2_000_000);
    const cut = truncateText(name, MAX_NAME_CHARS);
    expect(cut).toHaveLength(MAX_NAME_CHARS);
    expect(cut.endsWith(truncationMarker(2_000_000))).toBe(true);
    expect(cut).toMatch(/^X{200,}…\[truncated, 2000000 bytes in all\]$/);
  });

  it('one character past the maximum is cut too', () => {
    const cut = truncateText('y'.repeat(MAX_NAME_CHARS + 1), MAX_NAME_CHARS);
    expect(cut).toHaveLength(MAX_NAME_CHARS);
    expect(cut).toContain(`truncated, ${MAX_NAME_CHARS + 1} bytes in all`);
  });

  it('reports the length in UTF-8 bytes and never leaves half of a surrogate pair', () => {
    const accents = truncateText('é'.repeat(1000), MAX_NAME_CHARS);
    expect(accents).toContain('truncated, 2000 bytes in all');
    // 😀 is two UTF-16 code units: a cut between them would leave a lone surrogate.
    for (const pad of ['', 'a']) {
      const emoji = truncateText(pad + '😀'.repeat(300), MAX_NAME_CHARS);
      expect(emoji.length).toBeLessThanOrEqual(MAX_NAME_CHARS);
      // A lone surrogate does not survive a UTF-8 round trip: it comes back as U+FFFD.
      expect(Buffer.from(emoji, 'utf8').toString('utf8')).toBe(emoji);
      expect(emoji).toContain(`truncated, ${pad.length + 1200} bytes in all`);
    }
  });

  it('is idempotent: cutting a cut text again changes nothing', () => {
    const once = truncateText('Z'.repeat(10_000), MAX_NAME_CHARS);
    expect(truncateText(once, MAX_NAME_CHARS)).toBe(once);
  });

  it("marks the start a reader kept with the whole text's length, even when the start is short", () => {
    expect(truncateText('abc', MAX_NAME_CHARS, 5000)).toBe(`abc${truncationMarker(5000)}`);
    const long = truncateText('q'.repeat(1000), MAX_NAME_CHARS, 9_000_000);
    expect(long).toHaveLength(MAX_NAME_CHARS);
    expect(long).toContain('truncated, 9000000 bytes in all');
  });

  it('cut again to a smaller bound, still gives the length of the original, not of the first cut', () => {
    const first = truncateText('X'.repeat(2_000_000), MAX_MESSAGE_CHARS);
    const second = truncateText(first, MAX_NAME_CHARS);
    expect(second).toHaveLength(MAX_NAME_CHARS);
    expect(second).toMatch(/^X+…\[truncated, 2000000 bytes in all\]$/);
  });
});

describe('truncateTexts', () => {
  it('cuts every string and key of a message, keeping numbers, booleans and its shape', () => {
    const name = 'X'.repeat(100_000);
    const message = {
      type: 'result',
      loadMs: 12.5,
      ok: true,
      inputs: [{ name, type: 'float32', shape: [name, 8] }],
      inputShapes: { [name]: [1, 8] },
      missing: null,
    };
    const cut = truncateText(name, MAX_NAME_CHARS);
    expect(truncateTexts(message, MAX_NAME_CHARS)).toEqual({
      type: 'result',
      loadMs: 12.5,
      ok: true,
      inputs: [{ name: cut, type: 'float32', shape: [cut, 8] }],
      inputShapes: { [cut]: [1, 8] },
      missing: null,
    });
  });
});

describe('utf8Length', () => {
  it('counts what Buffer.byteLength counts, without encoding', () => {
    for (const text of ['', 'ascii', 'é', '€uro', '😀x', 'a\u0000b', '\ud800lone']) {
      expect(utf8Length(text), JSON.stringify(text)).toBe(Buffer.byteLength(text, 'utf8'));
    }
  });
});

describe('truncateKeepingEnd', () => {
  it("keeps a runtime error's reason, which comes last, whole after a megabyte-long node name", () => {
    const message = `Non-zero status code returned while running MatMul node. Name:'${'n'.repeat(1_000_000)}' Status Message: Failed to allocate memory for requested buffer of size 1099511627776`;
    const cut = truncateKeepingEnd(message, MAX_MESSAGE_CHARS);
    expect(cut.length).toBeLessThanOrEqual(MAX_MESSAGE_CHARS);
    expect(cut.startsWith('Non-zero status code returned while running MatMul node.')).toBe(true);
    expect(cut).toContain(`…[truncated, ${message.length} bytes in all]`);
    expect(cut.endsWith('Failed to allocate memory for requested buffer of size 1099511627776')).toBe(true);
    expect(classifyRuntimeError(cut, { stage: 'run', requestedExecutionProviders: [] })).toBe(
      'INSUFFICIENT_MEMORY',
    );
    // cut from the start only, the reason is gone and the failure would not be recognised
    expect(truncateText(message, MAX_MESSAGE_CHARS)).not.toContain('Failed to allocate');
    expect(truncateKeepingEnd('short', MAX_MESSAGE_CHARS)).toBe('short');
  });
});
