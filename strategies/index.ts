export { type BestOfNOptions, bestOfN, type Candidate, type Verifier } from "./best-of-n.js";
export { compactTrajectory, conclusionOf, lengthSortThenShuffle } from "./compaction.js";
export { lastUserTurn, problemText, replaceProblemText } from "./conversation.js";
export { PACORE_PRESETS, type PacoreOptions, pacore } from "./pacore.js";
export { drawSubset, type RsaOptions, rsa } from "./rsa.js";
export { type SelfConsistencyOptions, selfConsistency, voteOver } from "./self-consistency.js";
export { type SequentialOptions, sequential } from "./sequential.js";
export { single } from "./single.js";
export {
  defaultTemplate,
  jinjaTemplate,
  namedTemplate,
  paperTemplate,
  type SynthesisTemplate,
  TEMPLATE_NAMES,
  type TemplateName,
} from "./synthesis-template.js";
