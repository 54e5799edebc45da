/**
 * Pixel masks of the extraction: the user mask and the constant background image (`.npy`, one panel `(slow, fast)`
 * or every panel `(panels, slow, fast)`; for the mask nonzero = use the pixel, DIALS's convention), and each still's
 * Bragg boxes (the `.refl` `bbox` column `x0, x1, y0, y1, z0, z1`, upper bounds exclusive, grown by N pixels).
 *
 * @packageDocumentation
 */
import { readFile } from "node:fs/promises";
import { InputError } from "../errors.ts";
import { parseNpy } from "../io/npy.ts";
import type { PanelFrame } from "./pixel-geometry.ts";

/** Bragg boxes of one still: 5 integers per box (panel, x0, x1, y0, y1). */
export type StillBoxes = Int32Array;

async function readPerPanelNpy(path: string, panels: readonly PanelFrame[], what: string): Promise<Float64Array[]> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new InputError(`cannot read ${what}: ${e instanceof Error ? e.message : String(e)}`, path);
  }
  const a = parseNpy(bytes, path);
  if (a.data instanceof BigInt64Array || a.data instanceof BigUint64Array) {
    throw new InputError(`${what} must not be 64-bit integers (${a.dtype})`, path);
  }
  const shape = a.shape.length === 2 ? [1, ...a.shape] : a.shape;
  const [w, h] = panels[0].imageSize;
  const same = panels.every((p) => p.imageSize[0] === w && p.imageSize[1] === h);
  if (shape.length !== 3 || shape[0] !== panels.length || !same || shape[1] !== h || shape[2] !== w) {
    const want = panels.map((p) => `${p.imageSize[1]}×${p.imageSize[0]}`).join(", ");
    throw new InputError(`${what} has shape (${a.shape.join(", ")}); the panels are (slow × fast) ${want}`, path);
  }
  const values = a.data as ArrayLike<number>;
  return panels.map((_, p) => Float64Array.from({ length: w * h }, (_v, i) => values[p * w * h + i]));
}

/** Reads a user mask (`.npy`, nonzero = use). */
export async function readUserMask(path: string, panels: readonly PanelFrame[]): Promise<Uint8Array[]> {
  const values = await readPerPanelNpy(path, panels, "mask");
  return values.map((v) => Uint8Array.from(v, (x) => (x !== 0 ? 1 : 0)));
}

/** Reads a constant background image (`.npy`, counts per pixel). */
export async function readBackgroundImage(path: string, panels: readonly PanelFrame[]): Promise<Float32Array[]> {
  const values = await readPerPanelNpy(path, panels, "background image");
  for (const v of values) {
    for (const x of v) if (!Number.isFinite(x)) throw new InputError("background image has non-finite values", path);
  }
  return values.map((v) => Float32Array.from(v));
}

/**
 * The mask of one still: the user mask (or every pixel) with each Bragg box, grown by `grow` pixels on every side
 * and clipped to its panel, set to 0. Returns undefined when nothing is masked.
 */
export function stillMask(
  panels: readonly PanelFrame[],
  userMask: readonly Uint8Array[] | undefined,
  boxes: StillBoxes,
  grow: number,
): (Uint8Array | undefined)[] | undefined {
  if (userMask === undefined && boxes.length === 0) return undefined;
  const masks = panels.map((p, k) =>
    userMask === undefined ? new Uint8Array(p.imageSize[0] * p.imageSize[1]).fill(1) : userMask[k].slice(),
  );
  for (let b = 0; b < boxes.length; b += 5) {
    const panel = boxes[b];
    if (panel < 0 || panel >= panels.length) continue;
    const [w, h] = panels[panel].imageSize;
    const x0 = Math.max(0, boxes[b + 1] - grow);
    const x1 = Math.min(w, boxes[b + 2] + grow);
    const y0 = Math.max(0, boxes[b + 3] - grow);
    const y1 = Math.min(h, boxes[b + 4] + grow);
    const m = masks[panel];
    for (let y = y0; y < y1; y++) m.fill(0, y * w + x0, y * w + Math.max(x0, x1));
  }
  return masks;
}
