"""Other tools' output read into run directories (`scaling import`): parsers and the writer.

- `nccl_tests.py`  nccl-tests text tables and -J JSON -> ParsedLog
- `run_dir.py`     ParsedLogs -> manifest.json and samples.jsonl of a run directory
"""
