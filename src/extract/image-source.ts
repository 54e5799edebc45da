/**
 * Reads the image of one still and splits it into its panels. The format is recognised by its first bytes (CBF:
 * `###CBF`; HDF5/NeXus: the HDF5 signature). A single-panel detector takes the whole image; a multi-panel detector's
 * image is its panels stacked along the slow axis in panel order (as dxtbx lays out a multi-module NeXus or
 * multi-tile CBF image). NeXus files stay open between stills of one thread (one frame in memory at a time).
 *
 * @packageDocumentation
 */
import { closeSync, existsSync, openSync, readSync } from "node:fs";
import { InputError } from "../errors.ts";
import { readMiniCbfReusing } from "../io/cbf-read.ts";
import { openNexusImages, type NexusImages } from "../io/nexus-read.ts";
import type { PanelFrame } from "./pixel-geometry.ts";
import type { PixelValues } from "./still-binning.ts";

/** The image of one still: where the experiment says it is. */
export interface StillImageRef {
  /** Experiment index and identifier, for messages. */
  readonly experiment: string;
  /** The path resolved against the `.expt`. */
  readonly path: string;
  /** 0-based frame in a multi-image file. */
  readonly frame: number;
}

const HDF5_SIGNATURE = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];

function firstBytes(path: string): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const b = new Uint8Array(8);
    readSync(fd, b, 0, 8, 0);
    return b;
  } finally {
    closeSync(fd);
  }
}

function splitPanels(
  values: PixelValues,
  width: number,
  height: number,
  panels: readonly PanelFrame[],
  path: string,
): PixelValues[] {
  if (panels.length === 1) {
    const [w, h] = panels[0].imageSize;
    if (w !== width || h !== height) {
      throw new InputError(`image is ${width}×${height} pixels but the panel is ${w}×${h}`, path);
    }
    return [values];
  }
  let offset = 0;
  const out: PixelValues[] = [];
  for (const p of panels) {
    const [w, h] = p.imageSize;
    if (w !== width) throw new InputError(`image is ${width} pixels wide but a panel is ${w} wide`, path);
    out.push(values.subarray(offset, offset + w * h));
    offset += w * h;
  }
  if (offset !== width * height) {
    throw new InputError(`image has ${width * height} pixels but the panels stacked along slow have ${offset}`, path);
  }
  return out;
}

/** Reads still images for one thread, keeping the last NeXus file open. */
export class StillImageReader {
  #nexus: NexusImages | undefined;
  /** The values of the last CBF image, decoded into again by the next one of the same size. */
  #cbfValues: Int32Array | undefined;

  /**
   * Reads the image of `ref` split into `panels`. The values of a CBF image are valid until the next call (they are
   * decoded into the same memory).
   *
   * @throws {@link InputError} with one line naming the experiment and the path when the image is missing, and
   * naming the file for an unreadable one
   */
  async read(ref: StillImageRef, panels: readonly PanelFrame[]): Promise<PixelValues[]> {
    if (!existsSync(ref.path)) throw new InputError(`${ref.experiment}: image not found: ${ref.path}`);
    const magic = firstBytes(ref.path);
    if (HDF5_SIGNATURE.every((b, i) => magic[i] === b)) {
      if (this.#nexus?.path !== ref.path) {
        this.close();
        this.#nexus = await openNexusImages(ref.path);
      }
      const nexus = this.#nexus;
      const values = nexus.readFrame(ref.frame);
      return splitPanels(values, nexus.frameSize[0], nexus.frameSize[1], panels, ref.path);
    }
    if (String.fromCharCode(...magic.subarray(0, 6)) === "###CBF") {
      if (ref.frame !== 0) throw new InputError(`frame ${ref.frame} requested from a single-image CBF file`, ref.path);
      const image = readMiniCbfReusing(ref.path, this.#cbfValues);
      this.#cbfValues = image.data;
      return splitPanels(image.data, image.width, image.height, panels, ref.path);
    }
    throw new InputError("unknown image format (neither CBF nor HDF5/NeXus)", ref.path);
  }

  /** Closes any open NeXus file. */
  close(): void {
    this.#nexus?.close();
    this.#nexus = undefined;
  }
}
