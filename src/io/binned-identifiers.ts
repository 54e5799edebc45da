/**
 * The experiment identifiers of a binned diffuse file: the dataset `experiment_identifiers` at the file's root, one
 * variable-length string per still id (`identifiers[still_id]` is the identifier of the experiment that still id
 * stands for, as in the `.expt`/`.refl` files it came from).
 *
 * @packageDocumentation
 */
import { resolve } from "node:path";
import { ConfigError, InputError, requireStringArgument } from "../errors.ts";
import { closeQuietly, guardH5, loadH5wasm, openH5Read } from "./hdf5.ts";

/** The dataset's name. */
export const EXPERIMENT_IDENTIFIERS_DATASET = "experiment_identifiers";

/**
 * Adds the identifiers to an existing (closed) HDF5 file. Object-header times are fixed as in `writeH5Atomic`
 * (`SOURCE_DATE_EPOCH` or 0), so equal data give equal bytes.
 *
 * @throws {@link ConfigError} for a non-string identifier; {@link InputError} when the file cannot be written
 */
export async function appendExperimentIdentifiers(path: string, identifiers: readonly string[]): Promise<void> {
  for (const [i, id] of identifiers.entries()) {
    if (typeof id !== "string") throw new ConfigError(`experiment identifier ${i} is not a string`);
  }
  const h5 = await loadH5wasm();
  const realNow = Date.now;
  const epoch = Number(process.env.SOURCE_DATE_EPOCH);
  Date.now = () => (Number.isFinite(epoch) && epoch >= 0 ? epoch * 1000 : 0);
  try {
    const file = guardH5(path, "cannot open HDF5 file for appending", () => new h5.File(resolve(path), "a"));
    try {
      guardH5(path, `writing dataset '${EXPERIMENT_IDENTIFIERS_DATASET}'`, () =>
        file.create_dataset({ name: EXPERIMENT_IDENTIFIERS_DATASET, data: [...identifiers] }),
      );
    } finally {
      guardH5(path, "closing HDF5 file", () => file.close());
    }
  } finally {
    Date.now = realNow;
  }
}

/**
 * Reads the identifiers, or undefined when the file has no such dataset (files from `voxelize` or the simulator).
 *
 * @throws {@link InputError} when the dataset exists but is not a list of strings
 */
export async function readExperimentIdentifiers(path: string): Promise<string[] | undefined> {
  requireStringArgument(path, "readExperimentIdentifiers: path");
  const h5 = await loadH5wasm();
  const file = await openH5Read(path);
  try {
    const ds = guardH5(path, `opening '${EXPERIMENT_IDENTIFIERS_DATASET}'`, () =>
      file.keys().includes(EXPERIMENT_IDENTIFIERS_DATASET) ? file.get(EXPERIMENT_IDENTIFIERS_DATASET) : null,
    );
    if (ds === null) return undefined;
    if (!(ds instanceof h5.Dataset)) throw new InputError(`'${EXPERIMENT_IDENTIFIERS_DATASET}' is not a dataset`, path);
    const value = guardH5(path, `reading '${EXPERIMENT_IDENTIFIERS_DATASET}'`, () => ds.value);
    const list: unknown[] = Array.isArray(value) ? value : [value];
    if (!list.every((v): v is string => typeof v === "string")) {
      throw new InputError(`'${EXPERIMENT_IDENTIFIERS_DATASET}' must hold strings`, path);
    }
    return list;
  } finally {
    closeQuietly(file);
  }
}
