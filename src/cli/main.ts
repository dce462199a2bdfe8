/**
 * The `pacore` command. Uses only the public library API; every command's flags come from its
 * zod schema.
 */
import { readFileSync } from "node:fs";
import { BENCH_FLAGS, benchCommand } from "./bench-command.js";
import { DEMO_FLAGS, demoCommand } from "./demo-command.js";
import { describeFlags } from "./flags.js";
import { RUN_FLAGS, runCommand } from "./run-command.js";

const USAGE = `pacore: Parallel Coordinated Reasoning, test-time scaling of reasoning models

Usage:
  pacore run [PROMPT] [flags]     solve one problem (prompt, --file PATH, or stdin)
  pacore bench [flags]            run a strategy over a task's problems; accuracy and tokens
  pacore demo [flags]             single vs self-consistency vs PaCoRe, side by side
  pacore --version | --help

Flags of \`pacore run\`:
${describeFlags(RUN_FLAGS)}

Flags of \`pacore bench\`:
${describeFlags(BENCH_FLAGS)}

Flags of \`pacore demo\`:
${describeFlags(DEMO_FLAGS)}
`;

/** The package version: package.json is two levels up from source, three from dist/. */
function version(): string {
  for (const path of ["../../package.json", "../../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8"));
      if (pkg.name === "pacore") return pkg.version;
    } catch {}
  }
  return "unknown";
}

const COMMAND_FLAGS = { run: RUN_FLAGS, bench: BENCH_FLAGS, demo: DEMO_FLAGS };

/** `pacore CMD --help` (or `-h`, before any `--`): that command's usage line and flags. */
function commandHelp(command: string, rest: readonly string[]): string | undefined {
  if (!Object.hasOwn(COMMAND_FLAGS, command)) return undefined;
  const end = rest.indexOf("--");
  const flags = end < 0 ? rest : rest.slice(0, end);
  if (!flags.includes("--help") && !flags.includes("-h")) return undefined;
  const usage = USAGE.split("\n").find((line) => line.startsWith(`  pacore ${command} `));
  return `Usage:\n${usage}\n\nFlags:\n${describeFlags(COMMAND_FLAGS[command as keyof typeof COMMAND_FLAGS])}\n`;
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
  const help = command === undefined ? undefined : commandHelp(command, rest);
  if (help !== undefined) {
    process.stdout.write(help);
    return 0;
  }
  switch (command) {
    case "run":
      return runCommand(rest, io);
    case "bench":
      return benchCommand(rest, io);
    case "demo":
      return demoCommand(rest, io);
    case "--version":
    case "-v":
      process.stdout.write(`${version()}\n`);
      return 0;
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(`pacore: unknown command \`${command}\`. Run \`pacore --help\`.\n`);
      return 2;
  }
}
