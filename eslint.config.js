// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/**
 * The folders of src/ in data-flow order, lowest first (ARCHITECTURE.md). A file may import its own folder and the
 * folders before it, never one after it; `src/index.ts` and `src/errors.ts` sit at the root (errors below everything,
 * the index above everything).
 */
const LAYERS = [
  "runtime",
  "geometry",
  "table",
  "symmetry",
  "solve",
  "io",
  "dials",
  "voxelize",
  "extract",
  "observations",
  "passes",
  "refine",
  "merge",
  "report",
  "job",
  "simulate",
  "cli",
];

/** One config block per folder: static and dynamic imports of any later folder are errors. */
const importDirection = LAYERS.map((folder, i) => {
  const above = LAYERS.slice(i + 1);
  const files = [`src/${folder}/**/*.ts`];
  if (above.length === 0) return { files, rules: {} };
  const upward = `^(\\.\\./)+(${above.join("|")})/`;
  const message = `src/${folder}/ may import only folders before it in data-flow order (${LAYERS.slice(0, i).join(", ") || "none"}); see ARCHITECTURE.md.`;
  return {
    files,
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ regex: upward, message }] }],
      "no-restricted-syntax": [
        "error",
        { selector: `ImportExpression[source.value=/${upward.replaceAll("/", "\\/")}/]`, message },
      ],
    },
  };
});

export default tseslint.config(
  { ignores: ["dist", "coverage", "docs/api", "demo-output", "scaled", "node_modules", "eslint.config.js"] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true, allowBoolean: true }],
    },
  },
  {
    files: ["src/passes/**", "src/solve/**"],
    rules: { "@typescript-eslint/no-non-null-assertion": "off" },
  },
  {
    // errors.ts is below every folder
    files: ["src/errors.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: [{ regex: "^\\./", message: "errors.ts imports nothing of the project." }] },
      ],
    },
  },
  ...importDirection,
);
