"""``weightcast score``: the checkpoint MSE of a saved model on held-out runs (no fitting).

    weightcast score MODEL DATA [--checkpoints 40 80 160 200] [-o FILE]

Each sequence of DATA is a whole run: the model reads its first n_input_steps, and the forecast is
compared with the recorded steps at each checkpoint (an absolute step, counted from w_0).
"""

from ._common import (DATA_FILES, HelpFormatter, add_dataset, add_verbose, default_checkpoints,
                      parse_checkpoints)

__all__ = ["register", "run", "score_file"]


def register(subparsers):
    parser = subparsers.add_parser(
        "score", formatter_class=HelpFormatter, help="checkpoint MSE of a saved model on held-out runs",
        description="Forecast every run in DATA from its first input steps with a saved model and print the "
                    "mean squared error at each checkpoint (over the runs and parameters). Nothing is fitted.")
    parser.add_argument("model", help="model file written by `weightcast fit` or est.save()")
    parser.add_argument("data", help=f"held-out runs (n_sequences, n_steps, n_params), each at least as long as "
                                     f"the last checkpoint: {DATA_FILES}")
    parser.add_argument("--checkpoints", type=parse_checkpoints, nargs="+", default=None, metavar="STEP",
                        help="absolute steps w_c to score (default: four steps spread over the forecast, the "
                             "last one included)")
    parser.add_argument("-o", "--out", default=None, metavar="FILE",
                        help="also write the figures to this JSON file (default: print them only)")
    add_dataset(parser)
    parser.add_argument("--device", default=None,
                        help="auto, cpu or cuda (default: the model's own device setting)")
    add_verbose(parser, "forecasting")
    parser.set_defaults(func=run)


def score_file(model, data, checkpoints=None, dataset=None, device=None, verbose=False):
    """The figures ``weightcast score`` prints, as a JSON-ready dict."""
    import numpy as np

    from ..metrics import checkpoint_mse
    from .predict import load_forecaster, read_inputs

    estimator = load_forecaster(model, device, verbose)
    n_in = estimator.n_features_in_
    S = read_inputs(data, dataset, n_in + 1, what="scoring needs")
    available = min(estimator.horizon_, np.shape(S)[1] - n_in)
    checkpoints = default_checkpoints(n_in, available) if checkpoints is None else sorted(set(checkpoints))
    last = n_in + available - 1
    outside = [c for c in checkpoints if not n_in <= c <= last]
    if outside:
        raise ValueError(f"checkpoint(s) {outside} are outside the forecast: the model reads w_0..w_{n_in - 1} "
                         f"and forecasts up to w_{last} here (fitted horizon {estimator.horizon_}, "
                         f"{np.shape(S)[1]} steps in {str(data)!r})")
    m = checkpoints[-1] - n_in + 1  # forecast no further than the last checkpoint
    Y_pred = estimator.predict(S[:, :n_in], m=m)
    Y_true = np.asarray(S[:, n_in:n_in + m])
    if Y_true.ndim == 2:
        Y_true = Y_true[:, :, None]
    mse = checkpoint_mse(Y_true, Y_pred.reshape(Y_true.shape), checkpoints, n_in)
    return {"model": str(model), "estimator": type(estimator).__name__, "data": str(data),
            "n_sequences": int(Y_true.shape[0]), "n_params": int(Y_true.shape[2]), "n_input_steps": int(n_in),
            "checkpoints": [int(c) for c in checkpoints], "mse": mse.tolist()}


def format_scores(scores):
    lines = [f"{scores['estimator']} from {scores['model']} on {scores['n_sequences']} run(s) x "
             f"{scores['n_params']:,} parameter(s) of {scores['data']} (inputs w_0..w_{scores['n_input_steps'] - 1})",
             "", "| step | MSE | MSE x 1e4 |", "|---|---|---|"]
    lines += [f"| w_{c} | {value:.4g} | {value * 1e4:.4g} |"
              for c, value in zip(scores["checkpoints"], scores["mse"])]
    return "\n".join(lines)


def run(args):
    import json

    from ..io.atomic import atomic_output

    scores = score_file(args.model, args.data, args.checkpoints, args.dataset, args.device, args.verbose)
    print(format_scores(scores))
    if args.out:
        with atomic_output(args.out) as tmp:
            with open(tmp, "w") as stream:
                json.dump(scores, stream, indent=1)
        print(f"wrote {args.out}")
    return 0
