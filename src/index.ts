/**
 * diffuse-scaling: relative scaling of diffuse X-ray scattering measured on serial-crystallography stills.
 * This module re-exports the public API only (no top-level await).
 *
 * @packageDocumentation
 */
export * from "./errors.ts";
