import { readSync } from 'node:fs';
import { corrupted } from './load-failure.js';

/**
 * A little-endian reader over a file descriptor for binary headers (GGUF, safetensors). Every length and
 * count it is given is checked against the bytes that remain before anything is read or allocated, and its
 * position only moves forward: no value read from the file can make a parser loop, seek backwards or
 * allocate more than the file holds.
 */
export class ByteReader {
  private position = 0;
  private readonly chunk = Buffer.allocUnsafe(8);

  constructor(
    private readonly fd: number,
    readonly fileSize: number,
    /** Named in error messages: "GGUF", "safetensors". */
    private readonly what: string,
  ) {}

  get offset(): number {
    return this.position;
  }

  get remaining(): number {
    return this.fileSize - this.position;
  }

  /** Throws unless `length` is a non-negative safe integer and `length` bytes remain. */
  require(length: number, field: string): void {
    if (!Number.isSafeInteger(length) || length < 0 || length > this.remaining) {
      throw corrupted(
        `${this.what}: ${field} needs ${length} bytes at byte ${this.position}, but the file has ${this.remaining} left: it is truncated or damaged`,
        { offset: this.position, field },
      );
    }
  }

  readBytes(length: number, field: string): Buffer {
    this.require(length, field);
    const out = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = readSync(this.fd, out, got, length - got, this.position + got);
      if (n === 0) break;
      got += n;
    }
    if (got < length) this.require(Number.MAX_SAFE_INTEGER, field);
    this.position += length;
    return out;
  }

  skip(length: number, field: string): void {
    this.require(length, field);
    this.position += length;
  }

  private fixed(size: number, field: string): Buffer {
    this.require(size, field);
    const n = readSync(this.fd, this.chunk, 0, size, this.position);
    if (n < size) this.require(Number.MAX_SAFE_INTEGER, field);
    this.position += size;
    return this.chunk;
  }

  u8(field: string): number {
    return this.fixed(1, field).readUInt8(0);
  }

  u32(field: string): number {
    return this.fixed(4, field).readUInt32LE(0);
  }

  /** A u64 as a number; values past 2^53 cannot be sizes or counts of a real file and are refused. */
  u64(field: string): number {
    const value = this.fixed(8, field).readBigUInt64LE(0);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw corrupted(
        `${this.what}: ${field} at byte ${this.position - 8} is ${value}, beyond any file size`,
        {
          field,
        },
      );
    }
    return Number(value);
  }

  /** A count of items each at least `minItemBytes` long: more than the remaining bytes can hold is corruption. */
  count(field: string, minItemBytes: number): number {
    const n = this.u64(field);
    if (n * minItemBytes > this.remaining) {
      throw corrupted(
        `${this.what}: ${field} says ${n}, more than the ${this.remaining} remaining bytes can hold`,
        { field, count: n },
      );
    }
    return n;
  }
}
