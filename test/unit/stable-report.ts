/** Test helper: a report page without what differs between two renders of the same outputs. */

/** The page without the time stamp and the report's own seconds. */
export function stable(html: string): string {
  return html
    .replace(/generated [0-9T:-]+Z/g, "generated X")
    .replace(/<th>Report<\/th><td>[^<]*<\/td>/g, "<th>Report</th><td>X</td>");
}
