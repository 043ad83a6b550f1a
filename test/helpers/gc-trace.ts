/**
 * Reading Node's `--trace-gc` lines (one per collection, on stdout): `Scavenge` for the young generation,
 * `Mark-Compact` for a full collection. The memory reducer's own full collections, which V8 runs on a
 * thread that has gone quiet (`Mark-Compact (reduce)`), are not counted: they are not the work measured.
 */
export const isFullCollection = (line: string): boolean =>
  line.includes('Mark-Compact') && !line.includes('(reduce)');

export const isYoungCollection = (line: string): boolean => line.includes('Scavenge');
