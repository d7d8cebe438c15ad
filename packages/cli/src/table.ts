/** A plain text table: columns padded to their widest cell, numbers right-aligned. */
export function formatTable(
  headers: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  options: { header?: boolean } = {},
): string {
  const all = options.header === false ? rows : [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const numeric = /^[-+]?[\d.,]+( ?[a-zA-Z/%]+)?$/;
  const line = (r: readonly string[]) =>
    r
      .map((cell, i) =>
        i > 0 && options.header !== false && numeric.test(cell)
          ? cell.padStart(widths[i]!)
          : cell.padEnd(widths[i]!),
      )
      .join('  ')
      .trimEnd();
  const out = all.map(line);
  if (options.header !== false) out.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return out.join('\n');
}
