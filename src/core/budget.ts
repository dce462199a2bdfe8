/**
 * The context-budget planner. Before each synthesis round it works out what fits:
 * window − max output − (problem + template) is split over the round's messages, and each message
 * is cut to its share by a named policy. The PaCoRe reference client checks no limit at all; here
 * a plan that cannot fit fails before any call, with the numbers.
 */

import { BudgetError } from "../common/errors.js";
import { createRandom } from "../common/random.js";
import type { ChatMessage } from "../spec/backend.js";
import type { Strategy } from "../spec/strategy.js";
import type { TrimPolicy } from "./options.js";
import type { TokenCounter } from "./tokens.js";

/** Marks where a message was cut. */
const TAIL_MARKER = "…";
const MIDDLE_MARKER = "\n…\n";
/** Extra room taken per re-plan when a cut prompt still overflows (tokenizer boundary effects). */
const REPLAN_SLACK = 8;
const MAX_REPLANS = 4;

export interface BudgetLimits {
  /** Context window in tokens (prompt plus output). */
  readonly window: number;
  /** Tokens reserved for the trajectory's output. */
  readonly maxOutput: number;
}

export interface PlanCheckInput extends BudgetLimits {
  readonly strategy: Strategy;
  readonly problem: readonly ChatMessage[];
  readonly minMessageTokens: number;
  readonly count: TokenCounter;
}

const format = (value: number) => value.toLocaleString("en-US");

/** What one round of a plan needs from the window, output aside. */
export interface RoundNeeds {
  readonly round: number;
  /** Messages the round's prompt holds (0 in round 1). */
  readonly messageCount: number;
  /** Tokens of the problem and template with empty messages. */
  readonly overhead: number;
  /** The largest output that still fits with every message cut to `minMessageTokens`. */
  readonly largestOutput: number;
}

/** Measures every round of the plan before any call: what the prompt takes, what output fits. */
export async function measurePlan(input: Omit<PlanCheckInput, "maxOutput">): Promise<RoundNeeds[]> {
  const { strategy, problem, window, minMessageTokens, count } = input;
  const plan = strategy.plan;
  const needs: RoundNeeds[] = [];
  for (let round = 1; round <= plan.length; round++) {
    const messageCount =
      round === 1
        ? 0
        : Math.max(
            ...Array.from(
              { length: plan[round - 1] },
              (_, index) =>
                // Only the count matters here, not which messages are drawn.
                strategy.references?.(round, index, plan[round - 2], createRandom(index)).length ??
                plan[round - 2],
            ),
          );
    const overhead = await count(
      strategy.prompt({ problem, round, messages: new Array<string>(messageCount).fill("") }),
    );
    needs.push({
      round,
      messageCount,
      overhead,
      largestOutput: window - overhead - messageCount * minMessageTokens,
    });
  }
  return needs;
}

/**
 * Fails, before any call, when some round of the plan cannot fit its window even with every
 * message cut to `minMessageTokens`. The error names the numbers and the fix.
 */
export async function checkPlanFits(input: PlanCheckInput): Promise<void> {
  for (const needs of await measurePlan(input)) {
    if (needs.largestOutput < input.maxOutput) throw budgetError(input, needs, input.maxOutput);
  }
}

/** The error for a round that cannot fit `maxOutput`, with the numbers and the fix. */
export function budgetError(
  input: Pick<PlanCheckInput, "strategy" | "window" | "minMessageTokens">,
  needs: RoundNeeds,
  maxOutput: number,
): BudgetError {
  const { strategy, window, minMessageTokens } = input;
  const { round, overhead, messageCount, largestOutput } = needs;
  const needed = overhead + maxOutput + messageCount * minMessageTokens;
  const what =
    round === 1
      ? `the problem takes ${format(overhead)} tokens`
      : `the problem and template take ${format(overhead)} tokens, and ${messageCount} messages need at least ${format(minMessageTokens)} tokens each`;
  const fix =
    largestOutput > 0
      ? `lower --max-tokens to at most ${format(largestOutput)}, raise --context if the model allows ${format(needed)}`
      : `raise --context to at least ${format(needed)} if the model allows it`;
  const fewer =
    round === 1
      ? ""
      : ", or run fewer trajectories per round (--k), or let messages be cut shorter (--min-message-tokens)";
  return new BudgetError(
    `Round ${round} of plan [${strategy.plan.join(", ")}] cannot fit its context window of ${format(window)} tokens: ${format(maxOutput)} are reserved for output, ${what} (${format(needed)} in all). Fix: ${fix}${fewer}.`,
  );
}

export interface FitInput extends BudgetLimits {
  readonly strategy: Strategy;
  readonly problem: readonly ChatMessage[];
  readonly round: number;
  /** The messages the prompt reads, in order. */
  readonly messages: readonly string[];
  readonly policy: TrimPolicy;
  readonly count: TokenCounter;
}

/** A message the planner cut or dropped. */
export interface MessageCut {
  /** Index into the input messages. */
  readonly index: number;
  readonly originalTokens: number;
  /** 0 when the message was dropped. */
  readonly keptTokens: number;
}

export interface FitResult {
  /** The prompt to send. */
  readonly prompt: readonly ChatMessage[];
  /** The messages it holds (verbatim where they fit). */
  readonly messages: readonly string[];
  readonly cuts: readonly MessageCut[];
  /** Tokens of the prompt as counted. */
  readonly promptTokens: number;
}

/**
 * Renders a round's prompt so that prompt + max output fits the window. Messages that fit are
 * inserted verbatim; otherwise each is cut by the policy to its share.
 */
export async function fitMessages(input: FitInput): Promise<FitResult> {
  const { strategy, problem, round, messages, policy, count, window, maxOutput } = input;
  const render = (list: readonly string[]) => strategy.prompt({ problem, round, messages: list });
  const full = render(messages);
  const fullTokens = await count(full);
  if (fullTokens + maxOutput <= window) {
    return { prompt: full, messages, cuts: [], promptTokens: fullTokens };
  }

  const overhead = await count(render(messages.map(() => "")));
  const sizes = await Promise.all(messages.map((message) => count(message)));
  let available = window - maxOutput - overhead;
  for (let attempt = 0; attempt <= MAX_REPLANS; attempt++) {
    const { kept, cuts } = await applyPolicy(policy, messages, sizes, available, count);
    const prompt = render(kept);
    const promptTokens = await count(prompt);
    const excess = promptTokens + maxOutput - window;
    if (excess <= 0) return { prompt, messages: kept, cuts, promptTokens };
    available -= excess + REPLAN_SLACK;
  }
  throw new BudgetError(
    `Round ${round}: the synthesis prompt still exceeds the context window of ${format(window)} tokens after cutting its ${messages.length} messages (${format(maxOutput)} reserved for output, ${format(overhead)} for problem and template). Fix: lower --max-tokens or raise --context.`,
  );
}

async function applyPolicy(
  policy: TrimPolicy,
  messages: readonly string[],
  sizes: readonly number[],
  available: number,
  count: TokenCounter,
): Promise<{ kept: string[]; cuts: MessageCut[] }> {
  if (policy === "drop-longest") return dropLongest(messages, sizes, available, count);
  const shares = splitBudget(sizes, available);
  const cuts: MessageCut[] = [];
  const kept = await Promise.all(
    messages.map(async (message, index) => {
      if (sizes[index] <= shares[index]) return message;
      const text =
        policy === "keep-tail"
          ? await keepTail(message, shares[index], count)
          : await keepHeadAndTail(message, shares[index], count);
      cuts.push({ index, originalTokens: sizes[index], keptTokens: await count(text) });
      return text;
    }),
  );
  cuts.sort((a, b) => a.index - b.index);
  return { kept, cuts };
}

/**
 * Water-filling: messages smaller than an equal share keep all their tokens, and what they leave
 * is shared by the rest. Returns each message's share (never negative).
 */
export function splitBudget(sizes: readonly number[], available: number): number[] {
  const shares = sizes.slice();
  const order = sizes.map((_, index) => index).sort((a, b) => sizes[a] - sizes[b]);
  let remaining = Math.max(0, available);
  let left = sizes.length;
  for (const index of order) {
    const fair = Math.floor(remaining / left);
    shares[index] = Math.min(sizes[index], fair);
    remaining -= shares[index];
    left--;
  }
  return shares;
}

async function dropLongest(
  messages: readonly string[],
  sizes: readonly number[],
  available: number,
  count: TokenCounter,
): Promise<{ kept: string[]; cuts: MessageCut[] }> {
  const dropped = new Set<number>();
  let total = sizes.reduce((sum, size) => sum + size, 0);
  const longestFirst = sizes.map((_, index) => index).sort((a, b) => sizes[b] - sizes[a]);
  for (const index of longestFirst) {
    if (total <= available || dropped.size === messages.length - 1) break;
    dropped.add(index);
    total -= sizes[index];
  }
  const cuts: MessageCut[] = [...dropped].map((index) => ({
    index,
    originalTokens: sizes[index],
    keptTokens: 0,
  }));
  const kept: string[] = [];
  for (let index = 0; index < messages.length; index++) {
    if (dropped.has(index)) continue;
    // The one message left may still be too long alone: keep its tail.
    if (total > available) {
      const text = await keepTail(messages[index], Math.max(0, available), count);
      cuts.push({ index, originalTokens: sizes[index], keptTokens: await count(text) });
      kept.push(text);
    } else {
      kept.push(messages[index]);
    }
  }
  cuts.sort((a, b) => a.index - b.index);
  return { kept, cuts };
}

/** The longest suffix of `text` that, with the marker, has at most `tokens` tokens. */
export async function keepTail(text: string, tokens: number, count: TokenCounter): Promise<string> {
  const length = await longestFitting(text.length, tokens, (chars) =>
    count(TAIL_MARKER + text.slice(text.length - chars)),
  );
  return length === 0 ? "" : TAIL_MARKER + text.slice(text.length - length);
}

/** The start and the end of `text`, about half the tokens each, with a marker between. */
export async function keepHeadAndTail(
  text: string,
  tokens: number,
  count: TokenCounter,
): Promise<string> {
  const half = Math.floor(tokens / 2);
  const headChars = await longestFitting(text.length, half, (chars) =>
    count(text.slice(0, chars) + MIDDLE_MARKER),
  );
  const tailChars = await longestFitting(text.length - headChars, tokens - half, (chars) =>
    count(text.slice(text.length - chars)),
  );
  if (headChars + tailChars === 0) return "";
  return text.slice(0, headChars) + MIDDLE_MARKER + text.slice(text.length - tailChars);
}

/**
 * Largest `chars` in [0, maxChars] whose piece counts at most `tokens`, by binary search (a piece
 * never has fewer tokens than a shorter piece of the same side, up to tokenizer noise).
 */
async function longestFitting(
  maxChars: number,
  tokens: number,
  countPiece: (chars: number) => Promise<number>,
): Promise<number> {
  if (tokens <= 0) return 0;
  let low = 0;
  let high = maxChars;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if ((await countPiece(middle)) <= tokens) low = middle;
    else high = middle - 1;
  }
  return low;
}
