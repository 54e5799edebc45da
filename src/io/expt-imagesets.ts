/**
 * What the typed experiment models leave out but image extraction needs: each experiment's image (the `imageset` it
 * points to, resolved to one file and one frame as DIALS does) and each panel's detector fields beyond the geometry
 * (`trusted_range`, `thickness`, `mu`, `material`, `px_mm_strategy`).
 *
 * Paths: DIALS resolves a relative image path in an `.expt` against the directory of the `.expt` itself
 * (`ExperimentListFactory.from_json_file(..., check_format=True)`); absolute paths are used as written.
 *
 * @packageDocumentation
 */
import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { InputError } from "../errors.ts";

/** The image of one experiment: a file and the frame inside it (0 for single-image files such as CBF). */
export interface ExperimentImage {
  /** The path as written in the `.expt`. */
  readonly written: string;
  /** The path resolved against the `.expt`'s directory. */
  readonly path: string;
  /** 0-based frame inside a multi-image file (NeXus/HDF5 `single_file_indices`, or a sequence's image index). */
  readonly frame: number;
}

/** Detector fields of one panel that the geometry models leave out. */
export interface PanelDetectorFields {
  /** Valid pixel values lie strictly inside (low, high), as DIALS counts them. */
  readonly trustedRange: [number, number];
  /** Sensor thickness (mm). */
  readonly thickness: number;
  /** Linear attenuation coefficient of the sensor (mm⁻¹). */
  readonly mu: number;
  /** Sensor material ("" when unknown). */
  readonly material: string;
  /** Whether pixel → millimetre conversion uses dxtbx's parallax correction (`ParallaxCorrectedPxMmStrategy`). */
  readonly parallaxCorrected: boolean;
}

/** Per experiment: its image and the extra fields of its detector's panels. */
export interface ExperimentImageInfo {
  readonly image: ExperimentImage;
  readonly panels: readonly PanelDetectorFields[];
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function num(v: unknown, fallback: number): number {
  return typeof v === "number" && Number.isFinite(v) ? v : fallback;
}

/**
 * The detector fields of one panel's JSON (a `detector[i].panels[k]` object of an `.expt`).
 *
 * @throws {@link InputError} naming `where` and `path` for a missing `trusted_range` or a parallax strategy without μ
 * and thickness
 */
export function parsePanelFields(panel: Json, where: string, path: string): PanelDetectorFields {
  const tr = panel.trusted_range;
  if (!Array.isArray(tr) || tr.length !== 2 || !tr.every((x) => typeof x === "number")) {
    throw new InputError(`${where}: trusted_range must be two numbers`, path);
  }
  const strategy = isObject(panel.px_mm_strategy) ? panel.px_mm_strategy.type : undefined;
  const thickness = num(panel.thickness, 0);
  const mu = num(panel.mu, 0);
  const parallaxCorrected = strategy === "ParallaxCorrectedPxMmStrategy";
  if (parallaxCorrected && !(mu > 0 && thickness > 0)) {
    throw new InputError(`${where}: ParallaxCorrectedPxMmStrategy needs mu > 0 and thickness > 0`, path);
  }
  return {
    trustedRange: [tr[0], tr[1]],
    thickness,
    mu,
    material: typeof panel.material === "string" ? panel.material : "",
    parallaxCorrected,
  };
}

/** Expands a DIALS image template (`name_#####.cbf`) for one image number. */
function fromTemplate(template: string, image: number): string {
  return template.replace(/#+/, (hashes) => String(image).padStart(hashes.length, "0"));
}

function imageOf(imageset: Json, where: string, exptPath: string): ExperimentImage {
  const base = dirname(exptPath);
  const at = (written: string, frame: number): ExperimentImage => ({
    written,
    path: isAbsolute(written) ? written : resolve(base, written),
    frame,
  });
  const images = imageset.images;
  if (Array.isArray(images)) {
    if (images.length !== 1 || typeof images[0] !== "string") {
      throw new InputError(
        `${where}: an ImageSet with ${images.length} images (one still needs exactly one)`,
        exptPath,
      );
    }
    const indices = imageset.single_file_indices;
    let frame = 0;
    if (Array.isArray(indices)) {
      if (indices.length !== 1 || !Number.isSafeInteger(indices[0]) || (indices[0] as number) < 0) {
        throw new InputError(`${where}: single_file_indices must hold one non-negative index`, exptPath);
      }
      frame = indices[0] as number;
    }
    return at(images[0], frame);
  }
  if (typeof imageset.template === "string") {
    const range = imageset.image_range ?? (isObject(imageset.scan) ? imageset.scan.image_range : undefined);
    const first = Array.isArray(range) && Number.isSafeInteger(range[0]) ? (range[0] as number) : 1;
    const template = imageset.template;
    if (/#/.test(template)) return at(fromTemplate(template, first), 0);
    // a multi-image file named by a template without '#' (NeXus): the frame is the 1-based image number − 1
    return at(template, first - 1);
  }
  throw new InputError(`${where}: imageset has neither 'images' nor 'template'`, exptPath);
}

/**
 * Reads each experiment's image and panel fields from an `.expt` file, in experiment order.
 *
 * @throws {@link InputError} naming the file and the experiment for a missing imageset, an imageset with several
 * images, or a panel without `trusted_range`
 */
export async function readExperimentImages(exptPath: string): Promise<ExperimentImageInfo[]> {
  let doc: unknown;
  try {
    doc = JSON.parse(await readFile(exptPath, "utf8"));
  } catch (e) {
    throw new InputError(`cannot read experiment list: ${e instanceof Error ? e.message : String(e)}`, exptPath);
  }
  if (!isObject(doc) || !Array.isArray(doc.experiment)) throw new InputError("no 'experiment' list", exptPath);
  const imagesets = Array.isArray(doc.imageset) ? doc.imageset : [];
  const detectors = Array.isArray(doc.detector) ? doc.detector : [];
  return doc.experiment.map((e: unknown, i: number): ExperimentImageInfo => {
    const id = isObject(e) && typeof e.identifier === "string" ? ` (${e.identifier})` : "";
    const where = `experiment ${i}${id}`;
    if (!isObject(e)) throw new InputError(`${where} is not an object`, exptPath);
    const si = e.imageset;
    const imageset: unknown = typeof si === "number" ? imagesets[si] : undefined;
    if (!isObject(imageset)) throw new InputError(`${where} has no imageset (the image it came from)`, exptPath);
    const di = e.detector;
    const detector: unknown = typeof di === "number" ? detectors[di] : undefined;
    if (!isObject(detector) || !Array.isArray(detector.panels)) {
      throw new InputError(`${where} has no detector`, exptPath);
    }
    const panels = detector.panels.map((p: unknown, k: number) => {
      if (!isObject(p)) throw new InputError(`${where} panel ${k} is not an object`, exptPath);
      return parsePanelFields(p, `${where} panel ${k}`, exptPath);
    });
    return { image: imageOf(imageset, where, exptPath), panels };
  });
}
