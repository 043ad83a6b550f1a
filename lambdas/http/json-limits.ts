import { RegistryError } from '../../core/errors.js';
import { MAX_VERSION_FILES } from '../../schemas/version.schema.js';

/**
 * How deep a request body may nest. The deepest body a route takes has 5 levels (a commit: the body,
 * `multipart`, an upload, its `parts`, a part); test/unit/json-limits.test.ts checks every route's body
 * schema against this. JSON.parse's work on a deep body grows with its depth (8 M nested `[` froze the
 * server for 10 s), and a legitimate body never comes close.
 */
export const MAX_JSON_DEPTH = 8;

/** The most parts a commit may name and still be read: 6 TiB of multipart blobs at the default 64 MiB part. */
const LARGEST_COMMIT_PARTS = 100_000;

/**
 * How many objects and arrays a request body may hold. The largest legitimate bodies are a manifest (one
 * object per file, at most MAX_VERSION_FILES) and a commit: one object per uploaded part, and per file at
 * most two more (a multipart upload and its `parts`, or a staged upload). Containers are what make
 * JSON.parse slow: 3 M empty objects (9 MB) held the event loop for 6–9 s, while this many take ~0.1 s.
 */
export const MAX_JSON_CONTAINERS = LARGEST_COMMIT_PARTS + 3 * MAX_VERSION_FILES;

/**
 * How many values a request body may hold, counted as its commas plus its containers (each value after
 * the first of an array or object follows a comma). A manifest's file counts 6 (60 000 for the most files)
 * and a commit's part 4 (about 460 000 for 100 000 parts of 10 000 files).
 */
export const MAX_JSON_VALUES = 5 * MAX_JSON_CONTAINERS;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/** The index of the quote that closes the string opened at `open`, or the text's length if none does. */
function stringEnd(text: string, open: number): number {
  let at = open;
  for (;;) {
    at = text.indexOf('"', at + 1);
    if (at === -1) return text.length;
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
}

const tooDeep = () =>
  new RegistryError('INVALID_REQUEST', `body: JSON nested deeper than ${MAX_JSON_DEPTH} levels`, {
    field: 'body',
    maxDepth: MAX_JSON_DEPTH,
  });

const tooMany = (what: string, limit: number, key: string) =>
  new RegistryError('PAYLOAD_TOO_LARGE', `body: more than ${limit} JSON ${what}`, {
    field: 'body',
    [key]: limit,
  });

/**
 * Refuses, before JSON.parse runs, a body nested deeper than MAX_JSON_DEPTH (400 INVALID_REQUEST) or
 * holding more than MAX_JSON_CONTAINERS objects and arrays or MAX_JSON_VALUES values (413
 * PAYLOAD_TOO_LARGE), all with `details.field: "body"` and the limit. One pass over the text outside its
 * strings, stopping at the first limit passed, so a hostile body costs at most the bytes up to that
 * point; JSON.parse itself runs on the main thread and cannot be interrupted. Malformed JSON is left to
 * JSON.parse to report.
 */
export function assertJsonWithinLimits(text: string): void {
  let depth = 0;
  let containers = 0;
  let commas = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) i = stringEnd(text, i);
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > MAX_JSON_DEPTH) throw tooDeep();
      if (++containers > MAX_JSON_CONTAINERS)
        throw tooMany('objects and arrays', MAX_JSON_CONTAINERS, 'maxContainers');
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
    else if (c === COMMA && ++commas + containers > MAX_JSON_VALUES)
      throw tooMany('values', MAX_JSON_VALUES, 'maxValues');
  }
}
