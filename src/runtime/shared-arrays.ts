/**
 * Typed arrays over a SharedArrayBuffer: the memory that worker threads read and write without copying. Every
 * allocation has at least one element of backing store (a zero-length SharedArrayBuffer cannot be posted), viewed
 * through a subarray of the requested length.
 *
 * @packageDocumentation
 */

/** Allocates a Float64Array over a SharedArrayBuffer. */
export function sharedFloat64(n: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(Math.max(1, n) * 8)).subarray(0, n);
}

/** Allocates a Float32Array over a SharedArrayBuffer. */
export function sharedFloat32(n: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(Math.max(1, n) * 4)).subarray(0, n);
}

/** Allocates an Int32Array over a SharedArrayBuffer. */
export function sharedInt32(n: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(Math.max(1, n) * 4)).subarray(0, n);
}

/** Allocates a Uint8Array over a SharedArrayBuffer. */
export function sharedUint8(n: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(Math.max(1, n))).subarray(0, n);
}

/** `a` itself when it is in shared memory, else a copy of it in shared memory. */
export function sharedCopy<T extends Float64Array | Float32Array | Int32Array>(a: T): T {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const out = (
    a instanceof Int32Array
      ? sharedInt32(a.length)
      : a instanceof Float32Array
        ? sharedFloat32(a.length)
        : sharedFloat64(a.length)
  ) as T;
  out.set(a);
  return out;
}
