"""verl custom reward: score each rollout with pacore's reward server (`pacore rl serve-rewards`).

verl config: custom_reward_function.path=docs/trainers/verl_compute_score.py
             custom_reward_function.name=compute_score
Set PACORE_REWARD_URL when the server is not at http://127.0.0.1:5000/get_reward.
"""
import os

import requests

URL = os.environ.get("PACORE_REWARD_URL", "http://127.0.0.1:5000/get_reward")


def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    body = {"query": [solution_str], "prompts": [""], "labels": [ground_truth]}
    response = requests.post(URL, json=body, timeout=300)
    response.raise_for_status()
    return float(response.json()["rewards"][0])
