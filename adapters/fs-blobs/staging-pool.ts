/**
 * Page-aligned staging memory for the folder store's direct I/O, pooled for the life of the store.
 *
 * Why a shared `WebAssembly.Memory`: O_DIRECT needs buffers aligned to the device's logical block (this
 * pool aligns to 4096 bytes), Node Buffers are not, and a wasm memory is page-aligned; being shared, its
 * `.buffer` is a SharedArrayBuffer a digest thread reads in place (no copy). Why pooled: pages touched once
 * stay resident, while fresh pages cost kernel time on a VM whose host reclaims free memory, so the same
 * few MiB serve every upload and every read.
 *
 * Layout: `areas` areas of `slots` slots of `slotBytes` bytes each, one area per upload or read.
 */

/** O_DIRECT alignment of offsets, lengths and buffer addresses (bytes): a multiple of any logical block size in use. */
export const DIRECT_ALIGN = 4096;
const WASM_PAGE = 64 * 1024;

/** The one WebAssembly API used here (the project's TS libs do not declare WebAssembly). */
interface SharedWasmMemory {
  readonly buffer: SharedArrayBuffer;
}
const wasm = (
  globalThis as unknown as {
    WebAssembly: {
      Memory: new (d: { initial: number; maximum: number; shared: true }) => SharedWasmMemory;
    };
  }
).WebAssembly;

export interface StagingLayout {
  /** Bytes per slot, a multiple of 64 KiB. */
  readonly slotBytes: number;
  /** Slots per area (≥ 2: one fills while the others are written, hashed or read). */
  readonly slots: number;
  /** Areas in the pool: the number of uploads (or reads) served at once. */
  readonly areas: number;
}

/** One upload's or read's share of the pool: its slots' offsets in the pool's memory. */
export interface StagingArea {
  readonly offsets: readonly number[];
  readonly slotBytes: number;
  /** A view of `length` bytes of the slot at `offset` (no copy). */
  view(offset: number, length?: number): Buffer;
  /** Hands the area back; the next waiter gets it. */
  release(): void;
}

export class StagingPool {
  /** The pool's memory, shared with the digest thread; fixed size (initial = maximum), so it never moves. */
  readonly memory: SharedArrayBuffer;
  private readonly free: number[] = [];
  private readonly waiting: Array<(area: number) => void> = [];

  constructor(readonly layout: StagingLayout) {
    if (layout.slotBytes % WASM_PAGE !== 0 || layout.slotBytes <= 0)
      throw new RangeError(`slotBytes must be a positive multiple of ${WASM_PAGE}, got ${layout.slotBytes}`);
    if (layout.slots < 2 || layout.areas < 1) throw new RangeError('a pool needs ≥ 2 slots and ≥ 1 area');
    const pages = (layout.slotBytes * layout.slots * layout.areas) / WASM_PAGE;
    this.memory = new wasm.Memory({ initial: pages, maximum: pages, shared: true }).buffer;
    for (let i = 0; i < layout.areas; i += 1) this.free.push(i);
  }

  get bytes(): number {
    return this.memory.byteLength;
  }

  /** Areas handed out and not yet released. */
  get inUse(): number {
    return this.layout.areas - this.free.length;
  }

  /** An area now if one is free, else null. */
  tryAcquire(): StagingArea | null {
    const index = this.free.shift();
    return index === undefined ? null : this.area(index);
  }

  /**
   * An area, waiting (first come, first served) up to `waitMs` milliseconds for one to be released; null
   * if none was. An area released to a waiter that has just given up goes to the next one, or back to
   * the free list.
   */
  async acquireWithin(waitMs: number): Promise<StagingArea | null> {
    const now = this.tryAcquire();
    if (now || waitMs <= 0) return now;
    const index = await new Promise<number | null>((resolve) => {
      const waiter = (area: number) => {
        clearTimeout(timer);
        resolve(area);
      };
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        resolve(null);
      }, waitMs);
      this.waiting.push(waiter);
    });
    return index === null ? null : this.area(index);
  }

  private area(index: number): StagingArea {
    const { slotBytes, slots } = this.layout;
    const base = index * slotBytes * slots;
    const offsets = Array.from({ length: slots }, (_, i) => base + i * slotBytes);
    let released = false;
    return {
      offsets,
      slotBytes,
      view: (offset, length = slotBytes) => Buffer.from(this.memory, offset, length),
      release: () => {
        if (released) return;
        released = true;
        const next = this.waiting.shift();
        if (next) next(index);
        else this.free.push(index);
      },
    };
  }
}
