import { renameSync, writeFileSync } from "node:fs";

/**
 * Writes a file whole or not at all: the text goes to a temporary file beside it, which is then
 * renamed over it, so a process killed mid-write leaves the previous version, never half a file.
 */
export function writeAtomically(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}
