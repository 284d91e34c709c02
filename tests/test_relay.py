"""The node relays' bookkeeping (scaling/cluster/relay.py), pure logic: which rank each relayed
answer, error or wait belongs to, and what a relay sends back of its ranks' answers. The relays
themselves run in tests/test_multinode.py (one per node, a killed follower named) and in every
leader-mode and group-forming test (test_plan_run.py, test_faults.py)."""

from types import SimpleNamespace

from scaling.cluster import failures, relay


def test_trim_keeps_the_keys_read_and_sends_a_list_of_nothing_as_none():
    answers = [{"nccl": [None, None], "results": [{}, {}], "seconds": 1.0},
               {"nccl": [None, {"transports": ["NET"]}], "results": [{}, {}]}, None]  # fmt: skip
    assert relay.trim(answers, ("nccl",)) == [
        {"nccl": None}, {"nccl": [None, {"transports": ["NET"]}]}, None
    ]  # fmt: skip
    assert relay.trim(answers, None) is answers


def test_expand_gives_every_rank_its_own_result_error_or_wait():
    fanned = relay.Fanned(5)
    fanned.add("node-a", [0, 1], relayed=True)
    fanned.add("node-b", [2, 3], relayed=True)
    fanned.add("rank-4", [4], relayed=False)
    failed = {"results": [None, "r3"], "errors": {0: ("rank gone", True)}, "pending": []}
    # as ray.get raises a relay's RelayFailed: a RayTaskError whose cause is it
    raised = SimpleNamespace(cause=relay.RelayFailed(failed))
    got = failures.Outcome(results=[{"results": ["r0", "r1"], "errors": {}, "pending": []},
                                    None, None], errors={1: raised}, pending=[2])  # fmt: skip
    out = fanned.expand(got)
    assert out.results == ["r0", "r1", None, "r3", None]
    assert list(out.errors) == [2] and out.errors[2].died and str(out.errors[2]) == "rank gone"
    assert out.pending == [4]
    # a relay that itself failed (its node gone): its ranks share the error
    lost = RuntimeError("node lost")
    only_b = fanned.expand(failures.Outcome(results=[None], errors={0: lost}), which=[1])
    assert only_b.errors == {2: lost, 3: lost} and only_b.pending == []


def test_a_relayed_error_is_explained_as_the_ranks_own():
    who = [{"rank": r, "pid": 100 + r, "hostname": "h", "node_id": "abcdef123"} for r in range(3)]
    symptom = failures.Relayed("RuntimeError: Connection closed by peer", False)
    cause = failures.Relayed(*failures.relayed(ValueError("a planted failure\nmore")))
    out = failures.Outcome(results=[None] * 3, errors={1: symptom, 2: cause})
    assert failures.explain(out, who, {}, "all_reduce 1M", 10) == (
        "all_reduce 1M failed on rank 2 (pid 102, host h, node abcdef12): "
        "ValueError: a planted failure"
    )
    died = failures.Outcome(results=[None] * 3, errors={1: failures.Relayed("worker died", True)})
    assert failures.explain(died, who, {}, "init_group", 10) == (
        "rank 1 (pid 101, host h, node abcdef12) died during init_group (worker died)"
    )
