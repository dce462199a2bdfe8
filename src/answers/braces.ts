/** Brace matching for LaTeX answers (`\boxed{…}`, `\frac{…}{…}`). */

/**
 * Index just past the brace group that opens at `start` (which must be `{`), or -1 when it never
 * closes. Backslash-escaped characters (`\{`) do not count.
 */
export function closingBrace(text: string, start: number): number {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const char = text[i];
    if (char === "\\") {
      i++;
      continue;
    }
    if (char === "{") depth++;
    else if (char === "}") {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}
