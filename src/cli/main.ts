/**
 * The `pacore` command. Uses only the public library API; every command's flags come from its
 * zod schema.
 */
import { readFileSync } from "node:fs";
import { BENCH_FLAGS, benchCommand } from "./bench-command.js";
import { CURVE_FLAGS, curveCommand } from "./curve-command.js";
import { DEMO_FLAGS, demoCommand } from "./demo-command.js";
import { describeFlags } from "./flags.js";
import { RL_FLAGS, rlCommand } from "./rl-command.js";
import { RUN_FLAGS, runCommand } from "./run-command.js";
import { SERVE_FLAGS, serveCommand } from "./serve-command.js";

/** The subcommands: usage line, flags and handler of each, in the order `--help` lists them. */
const COMMANDS = {
  run: {
    usage: "pacore run [PROMPT] [flags]     solve one problem (prompt, --file PATH, or stdin)",
    flags: RUN_FLAGS,
    handler: runCommand,
  },
  bench: {
    usage:
      "pacore bench [flags]            run a strategy over a task's problems; accuracy and tokens",
    flags: BENCH_FLAGS,
    handler: benchCommand,
  },
  curve: {
    usage:
      "pacore curve [flags]            accuracy against effective tokens for a grid of strategies",
    flags: CURVE_FLAGS,
    handler: curveCommand,
  },
  demo: {
    usage: "pacore demo [flags]             single vs self-consistency vs PaCoRe, side by side",
    flags: DEMO_FLAGS,
    handler: demoCommand,
  },
  serve: {
    usage:
      "pacore serve [flags]            an OpenAI-compatible endpoint; the model name picks the strategy",
    flags: SERVE_FLAGS,
    handler: serveCommand,
  },
  rl: {
    usage:
      "pacore rl build|serve-rewards   RL: synthesis training data for trainers; a reward server",
    flags: RL_FLAGS,
    handler: rlCommand,
  },
} as const;
type CommandName = keyof typeof COMMANDS;
const commandNames = Object.keys(COMMANDS) as CommandName[];
const isCommand = (name: string | undefined): name is CommandName =>
  name !== undefined && Object.hasOwn(COMMANDS, name);

const USAGE = `pacore: Parallel Coordinated Reasoning, test-time scaling of reasoning models

Usage:
${commandNames.map((name) => `  ${COMMANDS[name].usage}\n`).join("")}  pacore --version | --help
${commandNames.map((name) => `\nFlags of \`pacore ${name}\`:\n${describeFlags(COMMANDS[name].flags)}\n`).join("")}`;

/** `pacore CMD --help` (or `-h`, before any `--`): that command's usage line and flags. */
function commandHelp(command: CommandName, rest: readonly string[]): string | undefined {
  const end = rest.indexOf("--");
  const flags = end < 0 ? rest : rest.slice(0, end);
  if (!flags.includes("--help") && !flags.includes("-h")) return undefined;
  const { usage, flags: table } = COMMANDS[command];
  return `Usage:\n  ${usage}\n\nFlags:\n${describeFlags(table)}\n`;
}

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

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
  if (isCommand(command)) {
    const help = commandHelp(command, rest);
    if (help === undefined) return COMMANDS[command].handler(rest, io);
    process.stdout.write(help);
    return 0;
  }
  switch (command) {
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
