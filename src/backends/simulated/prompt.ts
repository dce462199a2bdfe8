/**
 * Reading the simulator's prompts: the problem, and for a synthesis prompt its reference
 * responses (the compacted messages of the previous round).
 */

/** What the simulator reads from the last user turn. */
export interface SimulatedPrompt {
  /** The text that states the problem: the "Original Problem:" section when there is one. */
  readonly problem: string;
  /** The reference responses of a synthesis prompt, in order; absent for a plain problem. */
  readonly references?: readonly string[];
}

/** `Reference 3:` at the start of a line (also `**Reference 3:**`, `### Reference 3:`). */
const REFERENCE_MARKER =
  /^[ \t]*(?:[#>*]+[ \t]*)?Reference[ \t]+\d+[ \t]*(?:\*\*)?:(?:\*\*)?[ \t]*\n?/gim;
/** `<reference>…</reference>` blocks, attributes allowed (`<reference id="2">`). */
const REFERENCE_TAG = /<reference\b[^>]*>([\s\S]*?)<\/reference>/gi;
/** The paper template's closing sentence, which follows the last reference. */
const CLOSING = /\n[ \t]*Now,? based on the original problem[\s\S]*$/i;
const ORIGINAL_PROBLEM =
  /Original Problem:[ \t]*\n?([\s\S]*?)(?=\n[ \t]*(?:Reference Responses:|(?:[#>*]+[ \t]*)?Reference[ \t]+\d+[ \t]*(?:\*\*)?:|<reference\b)|$)/i;

/**
 * Splits a user turn into problem and references. A synthesis prompt is recognized by
 * `Reference N:` line markers (the PaCoRe paper's wording, "Reference Responses:\n\nReference
 * 1:\n…") or by `<reference>…</reference>` tags; each reference runs to the next marker, and the
 * last one to the paper's closing sentence ("Now, based on the original problem …") or the end.
 */
export function readSimulatedPrompt(text: string): SimulatedPrompt {
  const tagged = [...text.matchAll(REFERENCE_TAG)];
  if (tagged.length > 0) {
    return {
      problem: problemSection(text, tagged[0].index ?? 0),
      references: tagged.map((match) => match[1]),
    };
  }
  const markers = [...text.matchAll(REFERENCE_MARKER)];
  if (markers.length === 0) return { problem: text };
  const references = markers.map((marker, i) => {
    const start = (marker.index ?? 0) + marker[0].length;
    const end = i + 1 < markers.length ? (markers[i + 1].index ?? text.length) : text.length;
    const block = text.slice(start, end);
    return i + 1 < markers.length ? block : block.replace(CLOSING, "");
  });
  return { problem: problemSection(text, markers[0].index ?? 0), references };
}

function problemSection(text: string, firstReference: number): string {
  const original = ORIGINAL_PROBLEM.exec(text);
  if (original && original[1].trim() !== "") return original[1];
  return text.slice(0, firstReference);
}
