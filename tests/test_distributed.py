"""Fitting over parameter shards with torch.distributed: 2 gloo processes on 127.0.0.1.

One launch of 2 processes runs every scenario (starting processes is the slow part); the tests then
compare what each rank returned with the single-process fit on the concatenated parameters.
"""

import os
import queue as queue_module
import socket
import time
import traceback
from datetime import timedelta

import numpy as np
import pytest
import torch

from weightcast import LFD2Forecaster, LFNForecaster, split_sequences
from weightcast.distributed import LocalReducer, TorchDistributedReducer, local_parameters, shard_slice

WORLD_SIZE = 2
N_PARAMS = 13  # shards of 7 and 6 parameters
GROUP_TIMEOUT_S = 60  # a hang would end here; failures must surface much sooner
LAUNCH_TIMEOUT_S = 240

LSTSQ = dict(solver="lstsq", device="cpu", slab_size=4, random_state=0)
PAPER = dict(init="default", lr=0.02, beta=1e-2, batch_size=4, max_epochs=8, patience=8, slab_size=4,
             device="cpu", random_state=0)


def sequences(n_sequences=10, n_steps=20, n_params=N_PARAMS, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    decay = 0.85 ** np.arange(n_steps)[None, :, None]
    start, end = rng.normal(size=(2, n_sequences, 1, n_params))
    S = end + (start - end) * decay + 0.05 * rng.normal(size=(n_sequences, n_steps, n_params))
    return split_sequences(S.astype(dtype), n_input_steps=10)


def _capture(fn):
    """Run one scenario: its result, or the error it raised and how long that took."""
    start = time.perf_counter()
    try:
        return {"value": fn()}
    except Exception as error:  # the scenario's outcome, checked by the tests
        return {"error": type(error).__name__, "kinds": [kind.__name__ for kind in type(error).__mro__],
                "message": str(error), "seconds": time.perf_counter() - start}


def _fsdp_trajectory(n_steps=8):
    """Train a small FSDP2-sharded model for a few steps, recording this rank's parameter shard."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh("cpu", (WORLD_SIZE,))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.Tanh(), torch.nn.Linear(8, 4))
    for layer in (model[0], model[2], model):
        fully_shard(layer, mesh=mesh)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(32, 16, generator=torch.Generator().manual_seed(1))
    y = torch.randn(32, 4, generator=torch.Generator().manual_seed(2))
    recorded = []
    for _ in range(n_steps):
        recorded.append(local_parameters(model).double().numpy())
        loss = ((model(x) - y) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return np.stack(recorded)[None]  # one sequence: (1, n_steps, n_params_local)


def _worker(rank, port, queue):
    import torch.distributed as dist

    try:
        torch.set_num_threads(1)
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=WORLD_SIZE, timeout=timedelta(seconds=GROUP_TIMEOUT_S))
        reducer = TorchDistributedReducer()
        shard = shard_slice(N_PARAMS, rank, WORLD_SIZE)
        X, Y = (a[:, :, shard] for a in sequences())
        X32, Y32 = (a[:, :, shard] for a in sequences(dtype=np.float32))
        Xv, Yv = (a[:, :, shard] for a in sequences(n_sequences=4, seed=1, dtype=np.float32))
        out = {"rank": rank, "shard": (shard.start, shard.stop)}

        # Failures first: afterwards every later fit must still work on the same group.
        X_bad = X.copy()
        if rank == 1:
            X_bad[2, 3, 1] = np.nan
        out["nan_on_rank1"] = _capture(lambda: LFNForecaster(**LSTSQ).fit(X_bad, Y, reducer=reducer))
        keep = slice(None) if rank == 0 else slice(0, -1)
        out["fewer_sequences_on_rank1"] = _capture(
            lambda: LFNForecaster(**LSTSQ).fit(X[keep], Y[keep], reducer=reducer))
        no_params = slice(None) if rank == 0 else slice(0, 0)
        out["no_parameters_on_rank1"] = _capture(
            lambda: LFD2Forecaster(**PAPER).fit(X32[:, :, no_params], Y32[:, :, no_params], reducer=reducer))
        out["other_batch_size_on_rank1"] = _capture(
            lambda: LFD2Forecaster(**{**PAPER, "batch_size": 4 + rank}).fit(X32, Y32, reducer=reducer))
        Xv_bad = Xv if rank == 0 else Xv[:, :-1]
        out["bad_validation_on_rank1"] = _capture(
            lambda: LFD2Forecaster(**PAPER).fit(X32, Y32, validation_data=(Xv_bad, Yv), reducer=reducer))

        before = reducer.n_bytes
        est = LFNForecaster(**LSTSQ).fit(X, Y, reducer=reducer)
        out["lstsq_bytes"] = reducer.n_bytes - before
        out["lstsq"] = (est.coef_, est.intercept_, est.predict(X))
        ridge = LFD2Forecaster(**LSTSQ, alpha=2.0, fit_intercept=False).fit(X, Y, reducer=reducer)
        out["ridge"] = (ridge.coef_, ridge.intercept_)

        est = LFD2Forecaster(**PAPER).fit(X32, Y32, reducer=reducer)
        out["paper"] = (est.coef_, est.intercept_, est.history_, est.predict(X32))
        est = LFD2Forecaster(**PAPER).fit(X32, Y32, validation_data=(Xv, Yv), reducer=reducer)
        out["paper_validation"] = (est.coef_, est.intercept_, est.history_)
        # No seed given: rank 0's generator is shared, so the ranks still agree with one another.
        est = LFD2Forecaster(**{**PAPER, "random_state": None}).fit(X32, Y32, reducer=reducer)
        out["paper_unseeded"] = (est.coef_, est.intercept_)

        trajectory = _fsdp_trajectory()
        est = LFD2Forecaster(**LSTSQ).fit(trajectory[:, :5], trajectory[:, 5:], reducer=reducer)
        out["fsdp"] = (trajectory, est.coef_, est.intercept_)
        queue.put(out)

        # Last: rank 1 fails in the middle of the paper solver's epochs, and its process ends.
        if rank == 1:
            _fail_on_third_gradient()
        late = _capture(lambda: LFD2Forecaster(**PAPER).fit(X32, Y32, reducer=reducer))
        queue.put({"rank": rank, "late_failure": late})
        if rank == 1:
            queue.close()
            queue.join_thread()
            os._exit(0)  # as a job would die on the error
    except Exception:
        queue.put({"rank": rank, "crash": traceback.format_exc()})
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _fail_on_third_gradient():
    import weightcast.linear

    original, calls = weightcast.linear.paper_gradient, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("simulated read error in the middle of an epoch")
        return original(*args, **kwargs)

    weightcast.linear.paper_gradient = failing


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ranks():
    """Start 2 gloo processes on loopback, run every scenario, return each rank's results."""
    context = torch.multiprocessing.get_context("spawn")
    queue = context.Queue()
    port = _free_port()
    processes = [context.Process(target=_worker, args=(rank, port, queue), daemon=True)
                 for rank in range(WORLD_SIZE)]
    for process in processes:
        process.start()
    results, deadline = {rank: {} for rank in range(WORLD_SIZE)}, time.monotonic() + LAUNCH_TIMEOUT_S
    try:
        while sum(len(r) for r in results.values()) < 2 * WORLD_SIZE:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"the 2-process run did not finish within {LAUNCH_TIMEOUT_S} s")
            try:
                result = queue.get(timeout=min(remaining, 5))
            except queue_module.Empty:  # check the workers are still alive
                dead = [p.exitcode for p in processes if not p.is_alive() and p.exitcode]
                if dead:
                    pytest.fail(f"a worker died with exit code {dead}")
                continue
            if "crash" in result:
                pytest.fail(f"rank {result['rank']} crashed:\n{result['crash']}")
            results[result["rank"]].setdefault("late_failure" if "late_failure" in result else "main", result)
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    return {rank: {**r["main"], "late_failure": r["late_failure"]["late_failure"]} for rank, r in results.items()}


def _concatenated(values):
    return np.concatenate(values, axis=2)


# ---------------------------------------------------------------------- equal to one process
def test_exact_solver_equals_the_single_process_fit(ranks):
    X, Y = sequences()
    single = LFNForecaster(**LSTSQ).fit(X, Y)
    for rank in ranks.values():
        coef, intercept, _ = rank["lstsq"]
        np.testing.assert_allclose(coef, single.coef_, rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(intercept, single.intercept_, rtol=1e-9, atol=1e-11)
    np.testing.assert_array_equal(ranks[0]["lstsq"][0], ranks[1]["lstsq"][0])
    # predict is per parameter: the ranks' shards of the forecast are the single forecast's shards.
    forecast = _concatenated([ranks[r]["lstsq"][2] for r in range(WORLD_SIZE)])
    np.testing.assert_allclose(forecast, single.predict(X), rtol=1e-9, atol=1e-10)


def test_ridge_penalty_counts_once_over_the_ranks(ranks):
    X, Y = sequences()
    single = LFD2Forecaster(**LSTSQ, alpha=2.0, fit_intercept=False).fit(X, Y)
    for rank in ranks.values():
        np.testing.assert_allclose(rank["ridge"][0], single.coef_, rtol=1e-10, atol=1e-12)
        assert np.all(rank["ridge"][1] == 0)


def test_paper_solver_equals_the_single_process_fit(ranks):
    X, Y = sequences(dtype=np.float32)
    single = LFD2Forecaster(**PAPER).fit(X, Y)
    assert len(single.history_) == PAPER["max_epochs"]
    for rank in ranks.values():
        coef, intercept, history, _ = rank["paper"]
        np.testing.assert_allclose(coef, single.coef_, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(intercept, single.intercept_, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose([h["validation_loss"] for h in history],
                                   [h["validation_loss"] for h in single.history_], rtol=1e-4)
    # Same reduced gradients on every rank: bit-identical coefficients.
    np.testing.assert_array_equal(ranks[0]["paper"][0], ranks[1]["paper"][0])
    forecast = _concatenated([ranks[r]["paper"][3] for r in range(WORLD_SIZE)])
    np.testing.assert_allclose(forecast, single.predict(X), rtol=1e-4, atol=1e-5)


def test_paper_solver_with_validation_data_equals_the_single_process_fit(ranks):
    X, Y = sequences(dtype=np.float32)
    Xv, Yv = sequences(n_sequences=4, seed=1, dtype=np.float32)
    single = LFD2Forecaster(**PAPER).fit(X, Y, validation_data=(Xv, Yv))
    for rank in ranks.values():
        coef, intercept, history = rank["paper_validation"]
        np.testing.assert_allclose(coef, single.coef_, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose([h["validation_loss"] for h in history],
                                   [h["validation_loss"] for h in single.history_], rtol=1e-4)


def test_unseeded_paper_fit_is_the_same_on_every_rank(ranks):
    np.testing.assert_array_equal(ranks[0]["paper_unseeded"][0], ranks[1]["paper_unseeded"][0])
    np.testing.assert_array_equal(ranks[0]["paper_unseeded"][1], ranks[1]["paper_unseeded"][1])


def test_fsdp_shards_fit_like_the_whole_model(ranks):
    shards = [ranks[r]["fsdp"][0] for r in range(WORLD_SIZE)]
    n_params = 16 * 8 + 8 + 8 * 4 + 4
    assert sum(s.shape[2] for s in shards) == n_params
    whole = _concatenated(shards)
    single = LFD2Forecaster(**LSTSQ).fit(whole[:, :5], whole[:, 5:])
    for rank in ranks.values():
        np.testing.assert_allclose(rank["fsdp"][1], single.coef_, rtol=1e-8, atol=1e-10)


def test_exact_fit_communicates_bytes_independent_of_n_params(ranks):
    # An LFN fit on 10 input steps: an agreement round of 8 int64, the pre-data round, and the
    # stacked [R | Q^T Y] of 11 x (11 + 10) float64 - whatever the shard (seeded: no generator state).
    expected = 2 * 8 * 8 + 11 * 21 * 8
    assert ranks[0]["lstsq_bytes"] == ranks[1]["lstsq_bytes"] == expected


# ---------------------------------------------------------------------- failures
def test_bad_data_on_one_rank_stops_every_rank_with_its_message(ranks):
    failed, other = ranks[1]["nan_on_rank1"], ranks[0]["nan_on_rank1"]
    assert failed["error"] == "ValueError" and "NaN" in failed["message"]
    assert other["error"] == "RuntimeError"
    assert "rank 1" in other["message"] and "NaN" in other["message"]
    assert other["seconds"] < GROUP_TIMEOUT_S / 3  # told, not timed out


def test_ranks_that_disagree_on_the_sequences_all_raise(ranks):
    for rank in ranks.values():
        outcome = rank["fewer_sequences_on_rank1"]
        assert outcome["error"] == "ValueError" and "n_sequences ([10, 9])" in outcome["message"]


def test_a_rank_without_parameters_is_an_error_on_every_rank(ranks):
    failed, other = ranks[1]["no_parameters_on_rank1"], ranks[0]["no_parameters_on_rank1"]
    assert failed["error"] == "ValueError" and "no parameters" in failed["message"]
    assert other["error"] == "RuntimeError" and "no parameters" in other["message"]


def test_ranks_that_disagree_on_settings_all_raise(ranks):
    for rank in ranks.values():
        outcome = rank["other_batch_size_on_rank1"]
        assert outcome["error"] == "ValueError" and "params" in outcome["message"]


def test_bad_validation_data_on_one_rank_stops_every_rank(ranks):
    assert ranks[1]["bad_validation_on_rank1"]["error"] == "ValueError"
    other = ranks[0]["bad_validation_on_rank1"]
    assert other["error"] == "RuntimeError" and "validation_data" in other["message"]
    assert other["seconds"] < GROUP_TIMEOUT_S / 3


def test_a_rank_dying_mid_epoch_stops_the_others_without_waiting_for_the_timeout(ranks):
    failed, other = ranks[1]["late_failure"], ranks[0]["late_failure"]
    assert failed["error"] == "OSError"
    assert "RuntimeError" in other["kinds"]  # gloo: the connection closed by the dead peer
    assert other["seconds"] < GROUP_TIMEOUT_S / 3


# ---------------------------------------------------------------------- single process
def test_local_reducer_changes_nothing():
    X, Y = sequences()
    a = LFNForecaster(**LSTSQ).fit(X, Y)
    b = LFNForecaster(**LSTSQ).fit(X, Y, reducer=LocalReducer())
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_reducer_needs_a_process_group_and_a_reducer_type():
    with pytest.raises(RuntimeError, match="init_process_group"):
        TorchDistributedReducer()
    X, Y = sequences()
    with pytest.raises(TypeError, match="reducer must be"):
        LFNForecaster(**LSTSQ).fit(X, Y, reducer="gloo")


@pytest.mark.parametrize("n_params, world_size", [(13, 2), (5, 3), (2, 4), (100, 7)])
def test_shard_slices_cover_the_parameters_once(n_params, world_size):
    covered = np.concatenate([np.arange(n_params)[shard_slice(n_params, r, world_size)]
                              for r in range(world_size)])
    np.testing.assert_array_equal(covered, np.arange(n_params))
    sizes = [len(range(n_params)[shard_slice(n_params, r, world_size)]) for r in range(world_size)]
    assert max(sizes) - min(sizes) <= 1
