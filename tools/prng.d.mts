/** A small deterministic PRNG (mulberry32): the same seed gives the same run; numbers in [0, 1). */
export declare function prng(seed: number): () => number;
