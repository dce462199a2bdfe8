/** The token estimate lives in core (the budget planner needs it); backends use it from here. */
export {
  estimateTextTokens,
  estimateTokens,
  IMAGE_TOKENS,
  MESSAGE_OVERHEAD_TOKENS,
  REPLY_PRIMING_TOKENS,
} from "../../core/estimate-tokens.js";
