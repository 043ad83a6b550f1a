import { readSync } from 'node:fs';
import { corrupted } from './load-failure.js';

/**
 * A protobuf that breaks off or is malformed: its account (byte offsets, wire types) helps whoever digs
 * into the file, not a publisher, so it is marked for callers to put in plain words.
 */
export const wireCorrupted = (message: string) => corrupted(message, { protobuf: true });

/** Protobuf wire types (https://protobuf.dev/programming-guides/encoding/). */
export const WireType = { VARINT: 0, I64: 1, LEN: 2, SGROUP: 3, EGROUP: 4, I32: 5 } as const;

const MIN_READ_AHEAD = 256;
const TWO_POW_63 = 2 ** 63;
const TWO_POW_64 = 2 ** 64;

/**
 * A protobuf wire-format reader over a file descriptor with one small, reused buffer. Payloads that are
 * skipped are never read: `skip` only moves the position, and the next read refills the buffer from
 * there (a positional read, i.e. a seek). So parsing the structure of a multi-GB model reads kilobytes.
 */
export class WireReader {
  private readonly buffer: Buffer;
  /** File offset of buffer[0]. */
  private bufferStart = 0;
  private bufferLength = 0;
  private position = 0;
  /** Size of the next refill: small right after a seek, doubling while reads stay sequential. */
  private readAhead: number;
  bytesRead = 0;

  constructor(
    private readonly fd: number,
    readonly fileSize: number,
    bufferSize = 8192,
  ) {
    this.buffer = Buffer.allocUnsafe(bufferSize);
    this.readAhead = bufferSize;
  }

  get offset(): number {
    return this.position;
  }

  /** Makes buffer hold [position, position + n); n is at most the buffer size. */
  private ensure(n: number): void {
    const start = this.position - this.bufferStart;
    if (start >= 0 && start + n <= this.bufferLength) return;
    if (this.position + n > this.fileSize)
      throw wireCorrupted(`unexpected end of file at byte ${this.position}`);
    // After a skip, the next thing is usually a short tensor header: don't pull in a full buffer of the
    // weights that follow it. Sequential parsing (the graph's nodes) grows the read size back.
    const sequential = this.position === this.bufferStart + this.bufferLength;
    this.readAhead = sequential ? Math.min(this.readAhead * 2, this.buffer.length) : MIN_READ_AHEAD;
    const want = Math.min(Math.max(this.readAhead, n), this.fileSize - this.position);
    let got = 0;
    while (got < want) {
      const read = readSync(this.fd, this.buffer, got, want - got, this.position + got);
      if (read === 0) break;
      got += read;
    }
    this.bytesRead += got;
    this.bufferStart = this.position;
    this.bufferLength = got;
    if (got < n) throw wireCorrupted(`unexpected end of file at byte ${this.position + got}`);
  }

  readByte(): number {
    this.ensure(1);
    const byte = this.buffer[this.position - this.bufferStart] as number;
    this.position++;
    return byte;
  }

  /**
   * An unsigned varint as a JS number (exact up to 2^53). Arithmetic rather than bit operators, since
   * lengths and int64 values exceed 32 bits; a 10-byte value at or over 2^63 is a negative int64.
   */
  readVarint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      const byte = this.readByte();
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value >= TWO_POW_63 ? value - TWO_POW_64 : value;
      scale *= 128;
    }
    throw wireCorrupted(`varint longer than 10 bytes before byte ${this.position}`);
  }

  /**
   * Reads `length` bytes when they fit the buffer; longer values are cut to the buffer size and skipped.
   * A length that is negative, not an integer or past the end of the file is corruption: the position
   * only ever moves forward, so no crafted length can make a parser loop.
   */
  readBytes(length: number): Buffer {
    this.checkLength(length, this.fileSize);
    const kept = Math.min(length, this.buffer.length);
    this.ensure(kept);
    const start = this.position - this.bufferStart;
    const bytes = Buffer.from(this.buffer.subarray(start, start + kept));
    this.position += kept;
    this.skip(length - kept);
    return bytes;
  }

  readString(length: number): string {
    return this.readBytes(length).toString('utf8');
  }

  /**
   * A LEN field's payload as UTF-8, of which at most `maxBytes` (and at most the buffer size) are decoded
   * and the rest skipped: `text` is the start (cut back to a whole character), `whole` whether it is all
   * of the payload, and `bytes` the payload's length, so a caller can say how long a text it kept only
   * the start of was. The length is read here and checked against `limit` (the enclosing message's end).
   */
  readStringHead(limit: number, maxBytes: number): { text: string; whole: boolean; bytes: number } {
    const length = this.readVarint();
    this.checkLength(length, limit);
    const kept = Math.min(length, maxBytes, this.buffer.length);
    this.ensure(kept);
    const start = this.position - this.bufferStart;
    // A cut inside a multi-byte character would decode as U+FFFD: end before that character instead.
    const end = kept < length ? wholeCharacterEnd(this.buffer, start, start + kept) : start + kept;
    const text = this.buffer.toString('utf8', start, end);
    this.position += kept;
    this.skip(length - kept);
    return { text, whole: kept === length, bytes: length };
  }

  skip(length: number): void {
    this.checkLength(length, this.fileSize);
    this.position += length;
  }

  private checkLength(length: number, limit: number): void {
    if (!Number.isSafeInteger(length) || length < 0 || this.position + length > limit) {
      const where = limit === this.fileSize ? 'the end of the file' : 'its enclosing message';
      throw wireCorrupted(`field of ${length} bytes at byte ${this.position} runs past ${where}`);
    }
  }

  /** Reads a LEN field's length and returns the offset where its payload ends, checked against `limit`. */
  readLengthEnd(limit: number): number {
    const length = this.readVarint();
    this.checkLength(length, Math.min(limit, this.fileSize));
    return this.position + length;
  }

  /** Skips a field's value. Groups (wire types 3, 4) are unused by ONNX; 6 and 7 do not exist. */
  skipField(wireType: number, limit: number): number {
    const start = this.position;
    switch (wireType) {
      case WireType.VARINT:
        this.readVarint();
        break;
      case WireType.I64:
        this.skip(8);
        break;
      case WireType.LEN:
        this.position = this.readLengthEnd(limit);
        break;
      case WireType.I32:
        this.skip(4);
        break;
      default:
        throw wireCorrupted(`invalid wire type ${wireType} at byte ${this.position}`);
    }
    if (this.position > limit) throw wireCorrupted(`field at byte ${start} runs past its enclosing message`);
    return this.position - start;
  }

  /** Iterates the fields of a message ending at `end`, calling `onField` with each tag. */
  forEachField(end: number, onField: (field: number, wireType: number) => void): void {
    while (this.position < end) {
      const tag = this.readVarint();
      const field = Math.floor(tag / 8);
      if (field < 1) throw wireCorrupted(`invalid field number ${field} at byte ${this.position}`);
      onField(field, tag % 8);
      if (this.position > end) throw wireCorrupted(`field ${field} runs past its enclosing message`);
    }
  }
}

/**
 * Where UTF-8 bytes buffer[start, end) stop being whole characters: `end`, or the first byte of a
 * character that the cut at `end` broke (its lead byte says how many bytes it needs).
 */
export function wholeCharacterEnd(buffer: Uint8Array, start: number, end: number): number {
  let lead = end - 1;
  while (lead > start && ((buffer[lead] as number) & 0xc0) === 0x80 && end - lead < 4) lead--;
  if (lead < start) return end;
  const byte = buffer[lead] as number;
  const needs = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
  return lead + needs > end ? lead : end;
}
