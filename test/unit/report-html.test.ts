/**
 * Structure of the report page: one self-contained document (no scripts, no URLs, no external resources), one inline
 * SVG per plot, absent plots explained, everything escaped; `writeReport` and `diffuse-scale report` on a run's
 * outputs.
 */
import { existsSync } from "node:fs";
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/program.ts";
import { InputError } from "../../src/errors.ts";
import { escapeHtml, renderReportHtml, type ReportPage } from "../../src/report/html.ts";
import { readReportData, renderReport, writeReport } from "../../src/report/write-report.ts";

const here = dirname(fileURLToPath(import.meta.url));
const fixtureDir = join(here, "..", "fixtures", "report");

const SVG = '<svg width="10" height="10" viewBox="0 0 10 10"><rect width="10" height="10"/></svg>';

function page(overrides: Partial<ReportPage> = {}): ReportPage {
  return {
    title: "t",
    generatedAt: "2026-01-01T00:00:00Z",
    generator: "diffuse-scaling test",
    summary: [{ group: "Inputs", label: "Experiments", value: "a.expt" }],
    commandLine: "diffuse-scale scale --expt a.expt",
    sections: [
      {
        id: "s1",
        title: "Section",
        figures: [
          { id: "p1", title: "Plot 1", caption: "c1", svg: SVG },
          { id: "p2", title: "Plot 2", missing: "No smoother in this run." },
          { id: "p3", title: "Plot 3", caption: "c3", svg: SVG },
        ],
      },
    ],
    ...overrides,
  };
}

/** Things a self-contained page must not contain. */
function expectSelfContained(page: string): void {
  // the map slices are the only images, inline PNGs
  const html = page.replace(/<img class="map-image" src="data:image\/png;base64,[A-Za-z0-9+/=]*"/g, "");
  expect(html).not.toMatch(/<script/i);
  expect(html).not.toMatch(/https?:\/\//i);
  expect(html).not.toMatch(/<link\b/i);
  expect(html).not.toMatch(/\ssrc\s*=/i);
  expect(html).not.toMatch(/@import|url\(/i);
  expect(html).not.toMatch(/<iframe|<object|<embed|<img/i);
}

describe("escapeHtml", () => {
  it("replaces the five special characters", () => {
    expect(escapeHtml(`<a href="x">Tom & 'Jerry'</a>`)).toBe(
      "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;",
    );
    expect(escapeHtml("&amp;")).toBe("&amp;amp;");
  });
});

describe("renderReportHtml", () => {
  it("inlines one SVG per plot and explains absent plots", () => {
    const html = renderReportHtml(page());
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    expect(html.match(/<svg\b/g)).toHaveLength(2);
    expect(html.match(/<figure class="plot"/g)).toHaveLength(2);
    expect(html).toContain('<figure class="missing" id="fig-p2"><h3>Plot 2</h3><p>No smoother in this run.</p>');
    expect(html).toContain('<meta http-equiv="Content-Security-Policy" content="default-src \'none\';');
    expect(html).toContain('<a href="#s1">Section</a>');
    expectSelfContained(html);
  });

  it("escapes every text: title, summary, command line, captions, ids", () => {
    const evil = `<script>alert("x")</script> & 'q'`;
    const html = renderReportHtml(
      page({
        title: evil,
        summary: [{ group: evil, label: evil, value: evil }],
        commandLine: `diffuse-scale scale --out "</code><script>x</script>"`,
        sections: [
          { id: `a"b<c`, title: evil, figures: [{ id: `x" onload="y`, title: evil, caption: evil, svg: SVG }] },
        ],
      }),
    );
    expectSelfContained(html);
    expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;");
    expect(html).toContain(
      "<code>diffuse-scale scale --out &quot;&lt;/code&gt;&lt;script&gt;x&lt;/script&gt;&quot;</code>",
    );
    expect(html).toContain('<section id="a_b_c">');
    expect(html).toContain('id="fig-x__onload__y"');
    expect(html).not.toMatch(/\sonload=/);
  });

  it("refuses SVG markup that could run code or load a resource", () => {
    const bad = [
      "<svg><script>alert(1)</script></svg>",
      '<svg onload="alert(1)"></svg>',
      '<svg><image href="https://example.org/x.png"/></svg>',
      '<svg><a href="javascript:alert(1)"><rect/></a></svg>',
      "<div>not an svg</div>",
      "<svg><rect/></svg><script></script>",
    ];
    for (const svg of bad) {
      expect(() =>
        renderReportHtml(
          page({ sections: [{ id: "s", title: "s", figures: [{ id: "f", title: "f", caption: "", svg }] }] }),
        ),
      ).toThrow(InputError);
    }
  });
});

describe("the report of a real run", () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "report-html-"));
    await copyFile(join(fixtureDir, "scales.json"), join(dir, "scales.json"));
    await copyFile(join(fixtureDir, "refinement.json"), join(dir, "refinement.json"));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("is one self-contained page with 15 inline SVG plots, the summary and the command line", async () => {
    const data = await readReportData(dir);
    const events: number[] = [];
    const r = await renderReport(data, {
      title: "run <1>",
      now: new Date("2026-03-04T05:06:07.890Z"),
      onProgress: (e) => events.push(e.done),
    });
    expect(r.nPlots).toBe(15);
    // the fixture directory has no merged_diffuse.h5 and no scaled.refl: 4 map and 5 merging figures say so; its
    // scales.json predates the error model: the 2 σ′ figures say so
    expect(r.nMissing).toBe(11);
    expect(events).toEqual(Array.from({ length: 15 }, (_, i) => i + 1));
    expect(r.html.match(/<svg\b/g)).toHaveLength(15);
    expect(r.html.match(/<\/svg>/g)).toHaveLength(15);
    expectSelfContained(r.html);
    expect(r.html).toContain("<title>run &lt;1&gt;</title>");
    expect(r.html).toContain("generated 2026-03-04T05:06:07Z");
    expect(r.html).toContain(`<code>${escapeHtml(data.refinement.command_line)}</code>`);
    for (const id of [
      "summary",
      "map",
      "merging",
      "scales",
      "smoother",
      "refinement",
      "residuals",
      "error-model",
      "shells",
      "observations",
    ]) {
      expect(r.html).toContain(`<section id="${id}">`);
    }
    expect(r.html).toContain("<th>Space group</th><td>P 43 21 2 (No. 96, Hall &quot;P 4nw 2abw&quot;)</td>");
  });

  it("writeReport writes DIR/report.html atomically and leaves no temporary file", async () => {
    const r = await writeReport(dir);
    expect(r.path).toBe(join(dir, "report.html"));
    const html = await readFile(r.path, "utf8");
    expect(html).toBe(r.html);
    const files = (await readdir(dir)).sort();
    expect(files).toEqual(["refinement.json", "report.html", "scales.json"]);
  });

  it("`diffuse-scale report DIR --out FILE` writes the page and exits 0", async () => {
    const out = join(dir, "custom.html");
    const code = await main(["node", "diffuse-scale", "report", dir, "--out", out, "--quiet"]);
    expect(code).toBe(0);
    expect(existsSync(out)).toBe(true);
    expect((await readFile(out, "utf8")).match(/<svg\b/g)).toHaveLength(15);
  });

  it("names the missing or malformed file", async () => {
    const empty = await mkdtemp(join(tmpdir(), "report-empty-"));
    try {
      await expect(writeReport(empty)).rejects.toThrow(InputError);
      await expect(writeReport(empty)).rejects.toThrow(`${join(empty, "scales.json")}: cannot read`);
      await copyFile(join(fixtureDir, "scales.json"), join(empty, "scales.json"));
      await writeFile(join(empty, "refinement.json"), "{ not json");
      await expect(writeReport(empty)).rejects.toThrow(`${join(empty, "refinement.json")}: not valid JSON`);
      await writeFile(join(empty, "refinement.json"), "{}");
      await expect(writeReport(empty)).rejects.toThrow(
        `${join(empty, "refinement.json")}: invalid field $.command_line`,
      );
      const lines: string[] = [];
      const write = process.stderr.write.bind(process.stderr);
      process.stderr.write = (chunk: string) => {
        lines.push(chunk);
        return true;
      };
      let code: number;
      try {
        code = await main(["node", "diffuse-scale", "report", empty]);
      } finally {
        process.stderr.write = write;
      }
      process.exitCode = 0;
      expect(code).toBe(2);
      expect(lines.join("")).toMatch(/^diffuse-scale: .*refinement\.json: invalid field \$\.command_line: .*\n$/);
      expect(existsSync(join(empty, "report.html"))).toBe(false);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
