"""The predict models on data with known parameters, the holdout, the labels, public fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scaling.collector.loaded_run import load_run
from scaling.collector.predict import published
from scaling.collector.predict.fit_points import PointSet, collective_points
from scaling.collector.predict.hockney import fit_collective
from scaling.collector.predict.holdout import collective_holdout, step_holdout
from scaling.collector.predict.prediction import NothingToFit, predict_run
from scaling.collector.predict.step import Layout, training_curves
from scaling.collector.predict.whatif import parse_what_if
from tests import predict_runs

PUBLIC = Path(__file__).parent / "fixtures" / "public"
SIZES = 2.0 ** np.arange(10, 29)


def grid(ns):
    n, s = np.meshgrid(np.asarray(ns, float), SIZES)
    return n.ravel(), s.ravel()


def model(n, s, a0, a1, busbw, law="ring"):
    g = n - 1 if law == "ring" else np.log2(n)
    return a0 + a1 * g + s * 2 * (n - 1) / n / busbw


def noisy(t, rel, seed=0):
    return t * np.random.default_rng(seed).lognormal(0.0, rel, t.shape)


@pytest.mark.parametrize("law", ["ring", "tree"])
def test_fit_recovers_known_alpha_and_beta(law):
    n, s = grid([2, 4, 8, 16, 32])
    t = noisy(model(n, s, 8e-6, 3e-6, 25e9, law), 0.01)
    fit = fit_collective("all_reduce", n, s, t)
    assert fit.law == law and f"{law} (" in fit.law_reason
    (seg,) = fit.segments  # one regime in the data: no change-point
    assert "no change-point" in fit.break_reason
    assert seg.a0_s == pytest.approx(8e-6, rel=0.1)
    assert seg.a1_s == pytest.approx(3e-6, rel=0.1)
    assert seg.busbw_gbps == pytest.approx(25, rel=0.02)


def test_change_point_found_where_the_protocol_switches():
    n, s = grid([2, 4, 8])
    small = model(n, s, 4e-6, 1e-6, 2e9)
    large = model(n, s, 15e-6, 2e-6, 40e9)
    t = noisy(np.where(s < 1 << 18, small, large), 0.01)
    fit = fit_collective("all_reduce", n, s, t)
    assert fit.break_bytes == 1 << 18
    assert "change-point at 256 KiB" in fit.break_reason
    assert fit.segments[0].busbw_gbps == pytest.approx(2, rel=0.05)
    assert fit.segments[1].busbw_gbps == pytest.approx(40, rel=0.05)
    assert fit.segments[1].a0_s == pytest.approx(15e-6, rel=0.15)


def test_few_world_sizes_say_which_law_was_assumed():
    n, s = grid([4, 8])
    t = model(n, s, 8e-6, 3e-6, 25e9)
    two = fit_collective("all_reduce", n, s, t)
    assert two.law == "ring" and "two world sizes" in two.law_reason
    n1, s1 = grid([8])
    one = fit_collective("all_reduce", n1, s1, model(n1, s1, 8e-6, 3e-6, 25e9))
    assert one.law == "constant" and "held constant" in one.law_reason
    assert one.segments[0].busbw_gbps == pytest.approx(25, rel=0.01)


def points(ns, t_of, iters=10, rel=0.02, span="inter-node"):
    n, s = grid(ns)
    rng = np.random.default_rng(1)
    times = [t_of(k, size) * rng.lognormal(0.0, rel, iters) for k, size in zip(n, s, strict=True)]
    return PointSet("all_reduce", "float32", "blocking", span, n=n, size=s, times=times)


def test_holdout_error_is_small_when_the_model_holds_and_large_when_it_breaks():
    good = points([2, 4, 8, 16], lambda k, s: model(k, s, 8e-6, 3e-6, 25e9))
    h = collective_holdout(good)
    assert h["status"] == "validated" and h["held_out_n"] == 16 and h["fitted_on"] == [2, 4, 8]
    assert h["plateau_error_pct"] < 3

    # The fabric halves its bandwidth at 16 ranks: the prediction from 2..8 must miss by ~2x.
    def degrading(k, s):
        return model(k, s, 8e-6, 3e-6, 25e9 if k < 16 else 12.5e9)

    h = collective_holdout(points([2, 4, 8, 16], degrading))
    assert h["plateau_bias_pct"] == pytest.approx(-50, abs=3)


def test_one_world_size_is_labelled_unvalidated():
    h = collective_holdout(points([8], lambda k, s: model(k, s, 8e-6, 3e-6, 25e9)))
    assert h["status"] == "unvalidated"
    assert "one world size (n=8)" in h["reason"]


def test_bootstrap_interval_covers_the_truth():
    ps = points([2, 4, 8], lambda k, s: model(k, s, 8e-6, 3e-6, 25e9), rel=0.05)
    fit = ps.fit()
    boots = ps.bootstrap(fit, 200, np.random.default_rng(0))
    at = [float(b.time(64 << 20, 64)[0]) for b in boots]
    truth = float(model(np.array(64.0), 64 << 20, 8e-6, 3e-6, 25e9))
    lo, hi = np.percentile(at, [5, 95])
    assert lo <= truth <= hi
    assert hi > lo


def test_step_model_recovers_a_step_it_was_not_fitted_on(tmp_path):
    run = load_run(predict_runs.write_predict_run(tmp_path / "r", world_sizes=(1, 2, 4, 8, 16)))
    sets = collective_points(run.samples)
    (curve,) = training_curves(run.training, run.samples)
    assert curve.bucket_bytes == predict_runs.BUCKETS
    h = step_holdout(curve, sets, Layout(4, {1: "intra-node", 2: "intra-node", 4: "intra-node",
                                              8: "inter-node", 16: "inter-node"}))  # fmt: skip
    assert h["status"] == "validated" and h["held_out_n"] == 16
    assert abs(h["step_error_pct"]) < 3


def test_predict_run_matches_the_generating_model(tmp_path):
    run = load_run(predict_runs.write_predict_run(tmp_path / "r", world_sizes=(1, 2, 4, 8, 16, 32)))
    doc = predict_run(run, [64, 256], reps=50)
    (t,) = doc["training"]
    assert t["exposure"] == pytest.approx(predict_runs.EXPOSURE, rel=0.15)
    for row in t["predictions"]:
        truth = predict_runs.step_time(row["n"], 4)
        assert row["step_s"] == pytest.approx(truth, rel=0.03)
        lo, hi = row["step_s_interval"]
        assert lo <= row["step_s"] <= hi
        assert row["validation"].startswith("validated")
    (c,) = doc["collectives"]
    assert c["fits"]["inter-node"]["law"] == "ring"
    assert c["fits"]["inter-node"]["segments"][-1]["busbw_gbps"] == pytest.approx(20, rel=0.03)


def test_predictions_without_a_holdout_say_unvalidated(tmp_path):
    run = load_run(predict_runs.write_predict_run(tmp_path / "r", world_sizes=(1, 8)))
    doc = predict_run(run, [16, 64], reps=20)
    (t,) = doc["training"]
    assert t["holdout"]["status"] == "unvalidated"
    assert all(r["validation"].startswith("unvalidated: ") for r in t["predictions"])
    inter = doc["collectives"][0]["fits"]["inter-node"]
    assert inter["holdout"]["status"] == "unvalidated"
    assert "one world size (n=8)" in inter["holdout"]["reason"]


def test_a_run_with_nothing_to_fit_is_refused(tmp_path):
    run = load_run(predict_runs.write_predict_run(tmp_path / "r", world_sizes=(1,), training=False))
    with pytest.raises(NothingToFit, match="nothing to fit"):
        predict_run(run, [8])


def test_what_if_link_replaces_the_inter_node_bandwidth(tmp_path):
    run = load_run(predict_runs.write_predict_run(tmp_path / "r", world_sizes=(1, 2, 4, 8, 16)))
    what_if = parse_what_if(["link=200GB/s"])
    doc = predict_run(run, [256], what_if=what_if, reps=0)
    (t,) = doc["training"]
    base, faster = t["predictions"][0], t["what_if"]["predictions"][0]
    # 10x the inter-node bandwidth: the bandwidth term shrinks 10x, latency and compute stay.
    assert faster["terms_s"]["bandwidth"] == pytest.approx(
        base["terms_s"]["bandwidth"] / 10, rel=0.02
    )
    assert faster["terms_s"]["latency"] == pytest.approx(base["terms_s"]["latency"])
    assert faster["terms_s"]["compute"] == pytest.approx(base["terms_s"]["compute"])


@pytest.mark.parametrize(
    "spec,value",
    [
        ("link=50GB/s", {"link": 50.0}),
        ("link=400Gb/s", {"link": 50.0}),
        ("alpha=20us", {"alpha": 20e-6}),
        ("compute=0.5x", {"compute": ("factor", 0.5)}),
        ("compute=120ms", {"compute": ("seconds", 0.12)}),
    ],
)
def test_what_if_parses(spec, value):
    got = parse_what_if([spec])
    assert got.keys() == value.keys()
    for k, v in value.items():
        assert got[k] == (pytest.approx(v) if isinstance(v, float) else (v[0], pytest.approx(v[1])))


@pytest.mark.parametrize("spec", ["link", "link=fast", "speed=50GB/s", "link=-5GB/s", "compute=0x"])
def test_what_if_rejects(spec):
    with pytest.raises(ValueError, match="--what-if"):
        parse_what_if([spec])


def test_public_fixtures_name_their_source_and_fit():
    files = sorted(PUBLIC.glob("*.json"))
    assert len(files) >= 4
    for path in files:
        doc = published.load(path)
        assert doc["source"]["url"].startswith("https://github.com/")
        if doc["kind"] == "curve":
            for ps in published.curve_points(doc):
                fit = ps.fit()
                assert fit.rel_rms < 0.25, (path.name, fit.rel_rms)
                h = collective_holdout(ps)
                assert h["status"] == "unvalidated"  # one world size per published table
        else:
            for runs in published.plateau_series(doc).values():
                h = published.plateau_holdout(runs)
                assert h["status"] == "validated"
                assert np.isfinite(h["plateau_error_pct"])


def test_plateau_holdout_on_the_gcp_thread():
    doc = published.load(PUBLIC / "nccl_209_gcp_32gbe_nodes.json")
    h = published.plateau_holdout(published.plateau_series(doc)["1 GPU per node"])
    # 2 nodes measured 30.6/31.0/31.4 Gbit/s, 4 nodes 30.4/30.8/30.8: flat, as the ring model says
    assert h["busbw_predicted_gbps"] == pytest.approx(31.0 / 8)
    assert h["plateau_error_pct"] == pytest.approx(100 * (1 - 30.8 / 31.0))


def test_cpu_ranks_on_one_host_share_its_cores(tmp_path):
    """The same run (world sizes 1, 2) read as a CPU run whose ranks ran on one 2-core host:
    compute at n is t_local(2) x max(1, n/2) / max(1, 2/2); read as a GPU run (or over two
    hosts) it is t_local(2)."""
    from scaling.collector.predict.prediction import shared_host_cores

    run = load_run(predict_runs.write_predict_run(tmp_path / "r", world_sizes=(1, 2)))
    host = {"hostname": "vm", "cpu_usable": 2}
    cpu = {"device": "cpu", "ranks": [{"hostname": "vm"}] * 2,
           "topology": {"node-a": {"snapshot": {"host": host}}}}  # fmt: skip
    gpu = run.manifest | {"device": "cuda"}
    run.manifest.update(cpu)
    shared = predict_run(run, [2, 4], reps=5)
    run.manifest.clear()
    run.manifest.update(gpu)
    own = predict_run(run, [2, 4], reps=5)
    assert shared["host_cores_shared"] == 2 and own["host_cores_shared"] is None

    def compute(doc, n):
        (t,) = doc["training"]
        return next(r["terms_s"]["compute"] for r in t["predictions"] if r["n"] == n)

    assert compute(shared, 4) == pytest.approx(compute(own, 4) * 2)  # 4 ranks on 2 cores
    assert compute(shared, 2) == pytest.approx(compute(own, 2))  # 2 ranks: a core each
    (t,) = shared["training"]
    assert any("one host of 2 cores" in note for note in t["notes"])
    two_hosts = cpu | {"ranks": [{"hostname": "vm"}, {"hostname": "other"}]}
    assert shared_host_cores(two_hosts) is None
    assert shared_host_cores(cpu | {"topology": {}}) is None  # no snapshot: unknown, no term
