/**
 * Task families: problem generators with programmatic verifiers. Pure functions, no dependencies.
 */

export {
  ARITH_LEVELS,
  type ArithLevel,
  type ArithNode,
  type ArithOptions,
  type ArithProblem,
  type ArithSplit,
  arithSteps,
  DEFAULT_ARITH_DIFFICULTY,
  evaluateArith,
  fnv1a32,
  generateArith,
  isHeldOut,
  parseArith,
  verifyArith,
} from "./arith.js";
