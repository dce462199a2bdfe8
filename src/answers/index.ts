/**
 * Answer extraction, equivalence and voting: pure functions, no dependencies.
 */

export { answersEqual, normalizeAnswer, parseNumericAnswer } from "./equivalence.js";
export {
  type AnswerKind,
  type ExtractOptions,
  extractAnswer,
  extractBoxed,
  extractLastNumber,
} from "./extract.js";
export {
  addRational,
  divideRational,
  formatRational,
  multiplyRational,
  parseDecimal,
  type Rational,
  rational,
  rationalsEqual,
  subtractRational,
} from "./rational.js";
export { majorityVote, type TieBreak, type VoteGroup, type VoteResult } from "./vote.js";
