/**
 * Answer extraction, equivalence, voting and grading. Only `symbolic.ts` loads a dependency
 * (mathjs, lazily, on the first `gradeAnswer`).
 */

export { answersEqual, normalizeAnswer, parseNumericAnswer } from "./equivalence.js";
export {
  type AnswerKind,
  type ExtractOptions,
  extractAnswer,
  extractBoxed,
  extractLastNumber,
} from "./extract.js";
export { type GradeOptions, gradeAnswer } from "./grade.js";
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
