/**
 * Which refinement iterations the history plot draws: all of them up to {@link MAX_HISTORY_POINTS}, otherwise every
 * k-th (k = ⌈n / MAX_HISTORY_POINTS⌉) and the last, so that a history of millions of entries renders in bounded time
 * and the page stays small; the steps keep their own numbers, so the x axis stays true.
 *
 * @packageDocumentation
 */

/** Most iterations the history plot draws. */
export const MAX_HISTORY_POINTS = 2000;

/**
 * The iteration numbers to draw of a history of `n` entries.
 *
 * @param n - entries in the history
 * @param max - most points @defaultValue {@link MAX_HISTORY_POINTS}
 * @returns ascending step numbers: every step when `n ≤ max`, else every k-th and the last
 */
export function historySteps(n: number, max = MAX_HISTORY_POINTS): number[] {
  const stride = n <= max ? 1 : Math.ceil(n / max);
  const steps: number[] = [];
  for (let i = 0; i < n; i += stride) steps.push(i);
  if (n > 0 && steps[steps.length - 1] !== n - 1) steps.push(n - 1);
  return steps;
}
