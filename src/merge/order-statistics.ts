/**
 * Exact order statistics of a stream of float32 values in bounded memory (the normal probability plot of the
 * residual summaries picks its observed quantiles with it, without a copy of the residuals).
 *
 * @packageDocumentation
 */

/** Bits of the sortable float32 key resolved by each round of {@link Float32OrderStatistics}: 11 + 11 + 10 = 32. */
const ROUND_BITS = [11, 11, 10] as const;

/**
 * Exact order statistics of a stream of float32 values, in three passes over the values and bounded memory (no copy of
 * the values): a radix selection on the 32-bit key of each value whose unsigned order is the order of a full
 * ascending sort of a `Float32Array` (−0 before +0). Round 1 counts the values by the top 11 key bits; rounds 2 and 3
 * count, inside each bin that holds a wanted rank, the next 11 and the last 10 bits. After round 3 every wanted rank's
 * key, hence its value, is known exactly, whatever the distribution (ties, tails, constant values). Memory: at most
 * (number of ranks) × 2048 counters.
 *
 * Use: `add` every value (round 1), `setRanks`, `add` every value again (round 2), `nextRound`, `add` every value a
 * third time (round 3), then `values`. The values must not be NaN and must be the same, in any order, in every round.
 * @internal
 */
export class Float32OrderStatistics {
  private readonly f32 = new Float32Array(1);
  private readonly u32 = new Uint32Array(this.f32.buffer);
  private round = 0;
  private count = 0;
  /** Counts of round 1 (by the top 11 key bits). */
  private readonly counts1 = new Float64Array(1 << ROUND_BITS[0]);
  /** Round-2 segment of each round-1 bin holding a wanted rank, −1 for the others. */
  private readonly slot1 = new Int32Array(1 << ROUND_BITS[0]).fill(-1);
  /** Round-2 counts, one segment of 2^11 per round-1 bin in `slot1`. */
  private counts2 = new Float64Array(0);
  /** Round-3 segment of each (round-2 segment, bin) holding a wanted rank, −1 for the others. */
  private slot2 = new Int32Array(0);
  /** Round-3 counts, one segment of 2^10 per entry of `slot2`. */
  private counts3 = new Float64Array(0);
  /** Per wanted rank: its key so far (the bits resolved) and its rank inside the current bin. */
  private rankKey = new Float64Array(0);
  private rankRest = new Float64Array(0);
  /** Per wanted rank: its segment in the current round's counts. */
  private rankSlot = new Int32Array(0);

  /** Number of values added in round 1. */
  get n(): number {
    return this.count;
  }

  private key(v: number): number {
    this.f32[0] = v;
    const bits = this.u32[0];
    return bits >= 0x80000000 ? ~bits >>> 0 : (bits | 0x80000000) >>> 0;
  }

  /** Adds one value (a float32 value: it is rounded to float32 otherwise) to the current round. */
  add(v: number): void {
    const key = this.key(v);
    const b1 = key >>> 21;
    if (this.round === 0) {
      this.counts1[b1]++;
      this.count++;
      return;
    }
    const s1 = this.slot1[b1];
    if (s1 < 0) return;
    const b2 = (key >>> 10) & 0x7ff;
    if (this.round === 1) {
      this.counts2[(s1 << 11) + b2]++;
      return;
    }
    const s2 = this.slot2[(s1 << 11) + b2];
    if (s2 >= 0) this.counts3[(s2 << 10) + (key & 0x3ff)]++;
  }

  /** {@link Float32OrderStatistics.add} of every value of `values`, in one loop over their bits. */
  addAll(values: Float32Array): void {
    const bits = new Int32Array(values.buffer, values.byteOffset, values.length);
    const { counts } = this.roundTables();
    countFloat32Keys(bits, 0, bits.length, this.round, this.slot1, this.slot2, counts);
    if (this.round === 0) this.count += bits.length;
  }

  /**
   * What the current round counts with {@link countFloat32Keys} (round, slots of the bins holding a wanted rank) and
   * the counts it adds to: several threads may count parts of the values into zeroed arrays of `counts.length` and
   * add them here with {@link Float32OrderStatistics.addCounts} (integer counts: the sum is exact in any order).
   */
  roundTables(): { round: number; slot1: Int32Array; slot2: Int32Array; counts: Float64Array } {
    const counts = this.round === 0 ? this.counts1 : this.round === 1 ? this.counts2 : this.counts3;
    return { round: this.round, slot1: this.slot1, slot2: this.slot2, counts };
  }

  /** Adds counts of the current round made with {@link countFloat32Keys} (round 1 also counts the values). */
  addCounts(partial: Float64Array): void {
    const { counts } = this.roundTables();
    if (partial.length !== counts.length) throw new RangeError(`${partial.length} counts for ${counts.length} bins`);
    let total = 0;
    for (let i = 0; i < counts.length; i++) {
      counts[i] += partial[i];
      total += partial[i];
    }
    if (this.round === 0) this.count += total;
  }

  /**
   * Ends round 1 and sets the wanted ranks (ascending integers in [0, n)).
   *
   * @throws RangeError when called out of turn or a rank is out of range.
   */
  setRanks(ranks: Float64Array): void {
    if (this.round !== 0) throw new RangeError("setRanks after round 1 only");
    const m = ranks.length;
    for (let j = 0; j < m; j++) {
      if (!(
        Number.isInteger(ranks[j]) &&
        ranks[j] >= 0 &&
        ranks[j] < this.count &&
        (j === 0 || ranks[j] >= ranks[j - 1])
      )) {
        throw new RangeError(`rank ${ranks[j]} is not an ascending integer in [0, ${this.count})`);
      }
    }
    this.rankKey = new Float64Array(m);
    this.rankRest = Float64Array.from(ranks);
    this.rankSlot = new Int32Array(m);
    const nSlots = this.locate(this.counts1, ROUND_BITS[0], 21, this.slot1, false);
    this.counts2 = new Float64Array(nSlots << 11);
    this.round = 1;
  }

  /** Ends round 2. @throws RangeError when called out of turn. */
  nextRound(): void {
    if (this.round !== 1) throw new RangeError("nextRound after round 2 only");
    this.slot2 = new Int32Array(this.counts2.length).fill(-1);
    const nSlots = this.locate(this.counts2, ROUND_BITS[1], 10, this.slot2, true);
    this.counts3 = new Float64Array(nSlots << 10);
    this.round = 2;
  }

  /** Ends round 3: the value at each wanted rank. @throws RangeError when called out of turn. */
  values(): Float64Array {
    if (this.round !== 2) throw new RangeError("values after round 3 only");
    this.locate(this.counts3, ROUND_BITS[2], 0, undefined, true);
    const m = this.rankKey.length;
    const out = new Float64Array(m);
    for (let j = 0; j < m; j++) {
      const key = this.rankKey[j];
      this.u32[0] = key >= 0x80000000 ? key - 0x80000000 : ~key >>> 0;
      out[j] = this.f32[0];
    }
    this.round = 3;
    return out;
  }

  /**
   * Finds each rank's bin among the counts of its segment (2^bits bins; the rank's `rankSlot` numbers the segment when
   * `segmented`, else there is one), adds the bin to the rank's key at bit `shift` and makes the rank relative to the
   * bin. With `slots`, numbers the distinct (segment, bin) pairs from 0 in the order met, records each rank's number
   * in `rankSlot`, and returns how many there are.
   */
  private locate(
    counts: Float64Array,
    bits: number,
    shift: number,
    slots: Int32Array | undefined,
    segmented: boolean,
  ): number {
    const nBins = 1 << bits;
    const weight = 2 ** shift;
    let nSlots = 0;
    for (let j = 0; j < this.rankKey.length; j++) {
      const base = segmented ? this.rankSlot[j] << bits : 0;
      let rest = this.rankRest[j];
      let b = 0;
      while (b < nBins - 1 && rest >= counts[base + b]) {
        rest -= counts[base + b];
        b++;
      }
      this.rankRest[j] = rest;
      this.rankKey[j] += b * weight;
      if (slots !== undefined) {
        if (slots[base + b] < 0) slots[base + b] = nSlots++;
        this.rankSlot[j] = slots[base + b];
      }
    }
    return nSlots;
  }
}

/**
 * Counts values of one round of {@link Float32OrderStatistics} into `counts` (see its `roundTables`): the float32
 * values whose bits are `bits[begin, end)`. Keys are formed in int32 arithmetic (the same unsigned order as a full
 * ascending sort: negative values' bits inverted, positive values' sign bit set).
 * @internal
 */
export function countFloat32Keys(
  bits: Int32Array,
  begin: number,
  end: number,
  round: number,
  slot1: Int32Array,
  slot2: Int32Array,
  counts: Float64Array,
): void {
  if (round === 0) {
    for (let i = begin; i < end; i++) {
      const b = bits[i];
      counts[(b ^ ((b >> 31) | 0x80000000)) >>> 21]++;
    }
    return;
  }
  if (round === 1) {
    for (let i = begin; i < end; i++) {
      const b = bits[i];
      const key = b ^ ((b >> 31) | 0x80000000);
      const s1 = slot1[key >>> 21];
      if (s1 >= 0) counts[(s1 << 11) + ((key >>> 10) & 0x7ff)]++;
    }
    return;
  }
  for (let i = begin; i < end; i++) {
    const b = bits[i];
    const key = b ^ ((b >> 31) | 0x80000000);
    const s1 = slot1[key >>> 21];
    if (s1 < 0) continue;
    const s2 = slot2[(s1 << 11) + ((key >>> 10) & 0x7ff)];
    if (s2 >= 0) counts[(s2 << 10) + (key & 0x3ff)]++;
  }
}
