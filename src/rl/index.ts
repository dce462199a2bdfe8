/**
 * RL hook: episodes from a run's events, composable rewards, the synthesis dataset builder and
 * its trainer formats (PaCoRe release JSONL, verl Parquet, OpenRLHF and TRL JSONL), and a reward
 * server speaking OpenRLHF's remote reward protocol. The PPO loop itself lives in a trainer.
 */
export * from "./dataset.js";
export * from "./episodes.js";
export * from "./formats.js";
export * from "./reward-server.js";
export * from "./rewards/index.js";
