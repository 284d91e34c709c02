"""Tune: find the fastest parallel strategy for a workload, within a memory and time budget.

Pure python (no torch, no ray), like the rest of the collector, so every decision can be
rerun and tested on recorded or simulated trials.

- shapes.py       parameter counts of the models, from their shapes (no torch)
- memory.py       bytes per rank: params, grads, optimizer states, DDP buckets, FSDP2,
                  activations from two measured batches; does a config fit?
- space.py        candidates from the [tune] section, pruned (memory, device) with reasons
- nccl_env.py     NCCL environment candidates per message-size range (debugging variables)
- judging.py      "better beyond noise": scaling compare's judgment of round figures
- halving.py      successive halving over a trial callback: rungs, interleaved passes
- halving_types.py  the search's records: schedule, trial budget and result, outcomes
- halving_budget.py the plan of rungs, projected trial costs, what fits the time budget
- paired.py       the paired judge of an interleaved rung (signed-rank over close pairs)
- result.py       tune.json, the ranked table and the pruned list, from a search
- trial_records.py  one trial's records -> per-round throughputs and figures (training.csv's
                  definitions); trial records in samples.jsonl
"""
