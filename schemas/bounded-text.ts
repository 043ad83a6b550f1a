/**
 * How long a text that comes from a model's bytes or from the runtime may be in what the registry stores
 * (a validation report, a version's status reason). onnx.proto sets no limit on a name, and onnxruntime
 * loads a model whose input is named by 20 million characters: such a model is not refused, its texts are
 * cut. Lengths are in UTF-16 code units (JavaScript's `length`, what `z.string().max()` counts); one
 * code unit is at most 3 bytes of UTF-8, or 6 bytes of JSON for an escaped control character.
 *
 * No zod here: the inspectors import this in their worker thread, where only the rule is needed.
 */

/** A name: a tensor, input, output, operator, domain, function, dimension, producer or provider. */
export const MAX_NAME_CHARS = 256;

/** Text the runtime or the validator wrote: an error message, a note. 4 KiB holds any real one whole. */
export const MAX_MESSAGE_CHARS = 4096;

/**
 * An external-data location: a path the runtime opens, so at most PATH_MAX (4096 bytes); a longer one
 * cannot be opened and is kept only as far as a report needs to show it.
 */
export const MAX_LOCATION_CHARS = 4096;

/** The most UTF-8 bytes one code unit of a JavaScript string takes (a BMP character: 3 bytes). */
export const MAX_UTF8_BYTES_PER_CHAR = 3;

/** The UTF-8 length of `text` in bytes, counted without encoding it (the text may be megabytes). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    // A surrogate pair is one 4-byte character; a lone surrogate is encoded as U+FFFD (3 bytes).
    else if (isHighSurrogate(unit) && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

const isHighSurrogate = (unit: number) => unit >= 0xd800 && unit <= 0xdbff;
const isLowSurrogate = (unit: number) => unit >= 0xdc00 && unit <= 0xdfff;

/** What replaces the end of a cut text: it says the text was cut and how long the whole was. */
export const truncationMarker = (wholeBytes: number) => `…[truncated, ${wholeBytes} bytes in all]`;

/** The marker at the end of a text cut before, and the whole length it gives. */
const EARLIER_MARKER = /…\[truncated, (\d+) bytes in all\]$/;

/** Where a text cut before ends and how long its whole was; undefined for a text never cut. */
function earlierCut(text: string): { end: number; wholeBytes: number } | undefined {
  // Only the tail can hold the marker: no regular expression runs over a megabyte-long text.
  const tail = text.slice(-64);
  const found = EARLIER_MARKER.exec(tail);
  if (!found) return undefined;
  return { end: text.length - tail.length + found.index, wholeBytes: Number(found[1]) };
}

/**
 * `text` itself when it is whole and at most `maxChars` code units; otherwise its start followed by
 * `truncationMarker` (`XXXX…[truncated, 20000000 bytes in all]`), `maxChars` code units in all, never a
 * half surrogate pair. `maxChars` must leave room for the marker (at least 64).
 *
 * `wholeBytes`: given by a reader that kept only the start of a longer text (the ONNX inspector skips the
 * rest of a long string): `text` is then that start, and `wholeBytes` the UTF-8 length of the whole text,
 * which the marker reports. Without it the marker reports `text`'s own UTF-8 length, or, for a text that
 * was cut before (by the loader child, to a larger bound), the whole length its marker gave.
 *
 * Idempotent: a result is whole and fits, so cutting it again returns it unchanged.
 */
export function truncateText(text: string, maxChars: number, wholeBytes?: number): string {
  if (wholeBytes === undefined && text.length <= maxChars) return text;
  const earlier = wholeBytes === undefined ? earlierCut(text) : undefined;
  const head = earlier ? text.slice(0, earlier.end) : text;
  const marker = truncationMarker(wholeBytes ?? earlier?.wholeBytes ?? utf8Length(text));
  let keep = Math.max(0, Math.min(head.length, maxChars - marker.length));
  if (keep > 0 && isHighSurrogate(head.charCodeAt(keep - 1))) keep--;
  return head.slice(0, keep) + marker;
}

/**
 * `text` cut to `maxChars` code units keeping its last `tailChars` whole: the start (cut by truncateText,
 * with its marker) then the end. For a runtime's error, which names what failed first (node names a model
 * can make megabytes long) and says why last (`Status Message: Failed to allocate memory`): the why is
 * what a failure is classified by. `maxChars` must exceed `tailChars` by room for the marker (64).
 */
export function truncateKeepingEnd(text: string, maxChars: number, tailChars = 1024): string {
  if (text.length <= maxChars) return text;
  let split = text.length - tailChars;
  if (isLowSurrogate(text.charCodeAt(split))) split--;
  return `${truncateText(text.slice(0, split), maxChars - (text.length - split) - 1, utf8Length(text))} ${text.slice(split)}`;
}

/**
 * `value` with every string and object key cut by truncateText to `maxChars`; arrays and plain objects
 * are walked, other values kept. For a message that carries a model's names (the loader child's result)
 * to where only a report's bounds matter: its size then follows the number of names, not their length.
 */
export function truncateTexts<T>(value: T, maxChars: number): T {
  if (typeof value === 'string') return truncateText(value, maxChars) as T;
  if (Array.isArray(value)) return value.map((item) => truncateTexts(item, maxChars)) as T;
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value).map(([k, v]) => [
    truncateText(k, maxChars),
    truncateTexts(v, maxChars),
  ]);
  return Object.fromEntries(entries) as T;
}
