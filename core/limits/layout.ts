// The SharedArrayBuffer layout of the shared-memory limit store, as named constants (the model is
// piscina's src/symbols.ts). Ground floor: imports nothing of ours.
//
// The buffer is an array of 64-bit words (`BigInt64Array`), read and written only through `Atomics`:
//
//   word 0            HEADER_MAGIC_WORD   LAYOUT_MAGIC << 16 | LAYOUT_VERSION; written once by create(),
//                                         checked by attach() so a thread never reads a foreign buffer
//   word 1            HEADER_CELLS_WORD   the number of cells; written once by create()
//   words 2..7        reserved (0)        room for later header fields without moving the cells
//   word 8 + slot     one cell per limit  its meaning depends on the cell's kind (below)
//
// Cell words (a cell's kind comes from the compiled Plan, not from the buffer; a fresh cell is 0, which is
// "empty" for every kind):
//   rate         TAT, the GCRA theoretical arrival time, integer microseconds since the Unix epoch. Values
//                stay below 2^53 (now ≈ 1.8e15 µs plus at most a few windows), so the arithmetic runs in
//                doubles exactly and only the load and the compare-and-swap touch BigInt.
//   concurrency  the number of units in flight, ≥ 0.
//   budget       (window index << BUDGET_SPENT_BITS) | spent: the calendar window the spend belongs to
//                (days since 1970-01-01 UTC for 'day', months since 1970-01 for 'month') in bits 47..62,
//                and the spend in micro-USD in bits 0..46, so one compare-and-swap moves both; a word
//                whose window is older than the current one reads as spent 0.
//
// Cells are one word apart (CELL_STRIDE_WORDS). Neighbouring cells share a cache line; padding each cell to
// its own line (stride 8) is a change of that one constant if contention across different cells shows up
// in a benchmark.

/** 'SWLM' (Switchyard limits memory). */
export const LAYOUT_MAGIC = 0x53574c4d;
/** Bump when the meaning of any word changes. */
export const LAYOUT_VERSION = 1;
/** The value of the magic word: magic and version in one. */
export const LAYOUT_MAGIC_WORD = (BigInt(LAYOUT_MAGIC) << 16n) | BigInt(LAYOUT_VERSION);

export const WORD_BYTES = 8;

/** Header word: LAYOUT_MAGIC_WORD. */
export const HEADER_MAGIC_WORD = 0;
/** Header word: the cell count. */
export const HEADER_CELLS_WORD = 1;
/** Header size in words (one 64-byte cache line), so the first cell starts on a line of its own. */
export const HEADER_WORDS = 8;

/** Words per cell. */
export const CELL_STRIDE_WORDS = 1;

/** Cells at most in one buffer (8 MiB of cells); a Plan with more limits than this is a config error. */
export const MAX_CELLS = 1 << 20;

/** Index into the BigInt64Array of the word of cell `slot`. */
export function cellWordIndex(slot: number): number {
  return HEADER_WORDS + slot * CELL_STRIDE_WORDS;
}

/** Bytes of a buffer holding `cellCount` cells. */
export function bufferBytes(cellCount: number): number {
  return (HEADER_WORDS + cellCount * CELL_STRIDE_WORDS) * WORD_BYTES;
}

// Budget word packing.
/** Low bits of a budget word: spent micro-USD. 2^47 − 1 µUSD ≈ 140.7 million USD per period. */
export const BUDGET_SPENT_BITS = 47n;
/** The largest spend a budget word holds; capacities above it are treated as this (conservative). */
export const BUDGET_SPENT_MAX = 2 ** 47 - 1;
/** The largest window index (bits 47..62): 65,535 days (year 2149) or months. */
export const BUDGET_WINDOW_MAX = 0xffff;

// Time.
/** Microseconds per millisecond: the store keeps time as integer µs (nowMs · 1000, rounded). */
export const US_PER_MS = 1000;
/** Milliseconds per UTC day. */
export const MS_PER_DAY = 86_400_000;
