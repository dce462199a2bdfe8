/**
 * Synthesis templates: how a round's messages are put before the model together with the
 * original problem. Pure functions of (problem, messages).
 */
import { Template } from "@huggingface/jinja";
import { ConfigError } from "../src/common/errors.js";

/** Renders the user turn of a synthesis round. */
export type SynthesisTemplate = (problem: string, messages: readonly string[]) => string;

/**
 * The input form the released PaCoRe-8B checkpoint was trained on, byte for byte: messages and
 * problem verbatim, one empty line before each `Reference i:` block, two before the closing
 * sentence, no final newline.
 */
export const paperTemplate: SynthesisTemplate = (problem, messages) => {
  let text =
    "You are given a problem and a list of reference responses. Your job is to analyze these references and provide your own response.\n\n" +
    `Original Problem:\n${problem}\n\nReference Responses:\n`;
  messages.forEach((message, index) => {
    text += `\nReference ${index + 1}:\n${message}\n`;
  });
  return `${text}\n\nNow, based on the original problem and reference responses above, please provide your own comprehensive solution.`;
};

/**
 * pacore's own wording: it tells the model the references are independent attempts that may
 * all be wrong, so that it checks them instead of copying the majority. The problem is stated
 * again at the end, next to where the answer starts: after many long references it would
 * otherwise be thousands of tokens back (the usual advice for long prompts is to put the
 * question last), and the small embedded model misreads a problem that far away.
 */
export const defaultTemplate: SynthesisTemplate = (problem, messages) => {
  const references = messages
    .map((message, index) => `Reference ${index + 1}:\n${message}`)
    .join("\n\n");
  return (
    `Original Problem:\n${problem}\n\n` +
    `Below are ${messages.length} reference responses to this problem from independent attempts. ` +
    "Any of them may be wrong, including the majority.\n\n" +
    `${references}\n\n` +
    "Check the references against each other and against the problem, then solve it yourself and state the final answer.\n\n" +
    `The problem again:\n${problem}`
  );
};

/**
 * A user template in Jinja (the dialect of Hugging Face chat templates, rendered by
 * `@huggingface/jinja`: a newline right after a block tag is dropped, as with `trim_blocks`, so
 * write `{{ '\n' }}` where one is wanted). It receives `problem` (string) and `messages` (list of
 * strings).
 *
 * @example
 * ```ts
 * const template = jinjaTemplate("{{ problem }}\n{% for m in messages %}- {{ m }}\n{% endfor %}");
 * ```
 */
export function jinjaTemplate(source: string): SynthesisTemplate {
  let template: Template;
  try {
    template = new Template(source);
  } catch (error) {
    throw new ConfigError(
      `The Jinja synthesis template does not parse: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const render: SynthesisTemplate = (problem, messages) =>
    template.render({ problem, messages: [...messages] });
  // Render once on a probe, so a template that breaks on use fails now, before any call.
  try {
    render("problem", ["message"]);
  } catch (error) {
    throw new ConfigError(
      `The Jinja synthesis template does not render (given \`problem\` and \`messages\`): ${(error as Error).message}`,
      { cause: error },
    );
  }
  return render;
}

/** Template names the CLI and library accept besides a Jinja source. */
export const TEMPLATE_NAMES = ["default", "paper"] as const;
export type TemplateName = (typeof TEMPLATE_NAMES)[number];

export function namedTemplate(name: TemplateName): SynthesisTemplate {
  return name === "paper" ? paperTemplate : defaultTemplate;
}
