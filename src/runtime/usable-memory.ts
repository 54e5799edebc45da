/**
 * How much memory this process may use, for the defaults that decide between resident and paged observations.
 *
 * @packageDocumentation
 */
import { totalmem } from "node:os";

/**
 * Memory this process may use: the machine's (`os.totalmem()`), or the limit of its control group (a container, a
 * batch job: `process.constrainedMemory()`) when that is lower.
 */
export function usableMemory(): number {
  const total = totalmem();
  // 0, undefined (older Node 20 releases) or a huge value when unconstrained
  const constrained: unknown = process.constrainedMemory();
  return typeof constrained === "number" && constrained > 0 && constrained < total ? constrained : total;
}
