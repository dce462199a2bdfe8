/** Runs the `pacore` command as a user would: `node bin/pacore.js …` in a child process. */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../../bin/pacore.js", import.meta.url));

export interface CliResult {
  readonly code: number | null;
  /** The signal that ended the process, if one did. */
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface StartedProcess {
  /** The child, for sending signals while it runs. */
  readonly child: ChildProcess;
  /** Settles when it has exited, with everything it printed. */
  readonly done: Promise<CliResult>;
}

/**
 * Starts `node ARGS…` (a script and its arguments) with piped output; `timeoutMs` (default 60 s)
 * kills a child that hangs. Use `runCli` unless the test must signal the child while it runs.
 */
export function startNode(
  args: readonly string[],
  options: { stdin?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): StartedProcess {
  const child = spawn(process.execPath, [...args], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, ...options.env },
  });
  const done = new Promise<CliResult>((resolve, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr?.on("data", (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  child.stdin?.end(options.stdin ?? "");
  return { child, done };
}

/** Starts `pacore ARGS…`; see `startNode`. */
export function startCli(
  args: readonly string[],
  options: { stdin?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): StartedProcess {
  return startNode([BIN, ...args], options);
}

/** Runs `pacore ARGS…` to its end. */
export function runCli(
  args: readonly string[],
  options: { stdin?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  return startCli(args, options).done;
}
