"""Verdicts for `scaling validate`: pure judgement over measured figures (no torch, no ray).

What is measured lives in the check workloads (scaling/workloads/checks, driven by
scaling/validate); how it is judged lives here; where it is written lives in `scaling/sinks/`.
Each module is one kind of judgement:

- `records.py`    raw check records -> figures (work / time per sample, slowest member per
                  all_reduce iteration); the checks.csv table
- `assemble.py`   a validation's records -> ValidateResult, every judge below fed from them
- `codes.py`      the checks and their stable fault codes
- `verdicts.py`   Verdict (one check on one node, GPU or link) and ValidateResult (exit code)
- `outliers.py`   the fleet rule median ± max(k·MAD, min_pct%), public minimums, peak, ceiling
- `sdc_compare.py` silent data corruption: bitwise digests, majority vote per GPU model
- `pairwise.py`   GPU-pair matrices: slow links and the GPU in every slow pair
- `localize.py`   adaptive localisation of bad nodes and node pairs in O(k log N) group tests:
                  `group_tests.py` (requests, outcomes, steps, findings), `scheduler.py`
                  (rounds of disjoint tests, buddies, books), `search.py` (the strategy)
- `simulate.py`   a simulated cluster and cost model for the localisation
- `internode.py`  the localisation's findings as verdicts; a group test's bar and outcome
- `health.py`     `scaling doctor` checks as verdicts
- `checks.py`     the judges assemble calls, binding the [validate] thresholds to the rules
- `baseline.py`   --baseline: the seam to collector/judge.py's judgment of two sets of round figures
"""
