#!/usr/bin/env node
// Entry point of the `pacore` command. A source checkout runs the TypeScript sources through tsx,
// so `npx pacore` works right after `npm ci` with no build step; an installed package runs dist/.
import { existsSync } from "node:fs";

const source = new URL("../src/cli/bin.ts", import.meta.url);
if (existsSync(source)) {
  const { register } = await import("tsx/esm/api");
  register();
  await import(source.href);
} else {
  await import(new URL("../dist/src/cli/bin.js", import.meta.url).href);
}
