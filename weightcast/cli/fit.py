"""``weightcast fit``: fit a forecaster on a data file and save it (no pickle).

    weightcast fit DATA --n-input-steps 21 [--model lfd2] [--m M] [--solver paper|lstsq] -o MODEL

DATA holds sequences (n_sequences, n_steps, n_params) (or (n_sequences, n_steps)); ``fit`` splits them
into the first n_input_steps and the next m steps. The defaults are the Python classes' defaults,
except ``--random-state`` (0, so that the same command gives the same model).
"""

from ._common import DATA_FILES, HelpFormatter, Renamed, add_dataset, add_verbose

__all__ = ["register", "run", "MODELS"]

# --model -> class name in weightcast
MODELS = {"lfd2": "LFD2Forecaster", "lfn": "LFNForecaster", "lfs": "LFSForecaster", "lfl": "LFLForecaster",
          "linear": "LinearFarcaster"}
# The Python defaults of those classes (tests/cli/test_fit_predict.py checks that they agree).
DEFAULTS = {"solver": "paper", "alpha": 0.0, "beta": 1e-6, "max_epochs": 1000, "device": "auto"}


def register(subparsers):
    parser = subparsers.add_parser(
        "fit", formatter_class=HelpFormatter, help="fit a forecaster on a data file and save it (no pickle)",
        description="Fit a forecaster on weight sequences and save it to a model file (JSON + safetensors, "
                    "never pickle). The defaults are those of the Python classes, except --random-state.")
    parser.add_argument("data", help=f"sequences (n_sequences, n_steps, n_params) or (n_sequences, n_steps): "
                                     f"{DATA_FILES}")
    parser.add_argument("-o", "--out", required=True, metavar="MODEL", help="model file to write")
    parser.add_argument("--save", action=Renamed, new="-o/--out")
    parser.add_argument("--n-input-steps", type=int, required=True, metavar="N",
                        help="input steps w_0 .. w_{n-1} per sequence (21 in the paper)")
    parser.add_argument("--model", choices=MODELS, default="lfd2",
                        help="lfd2: first and last input steps; lfn: all; lfs: a few sampled; lfl: the last; "
                             "linear: LinearFarcaster (every input step, as lfn)")
    parser.add_argument("--m", type=int, default=None,
                        help="target steps after the inputs (default: every remaining step)")
    add_dataset(parser)
    parser.add_argument("--solver", choices=("paper", "lstsq"), default=DEFAULTS["solver"],
                        help="paper: the paper's L1 + beta * L_grad objective by Adam, warm-started from least "
                             "squares; lstsq: exact least squares in one pass over the data (fastest on files "
                             "larger than memory)")
    parser.add_argument("--alpha", type=float, metavar="A", default=DEFAULTS["alpha"],
                        help="ridge penalty (both solvers)")
    parser.add_argument("--beta", type=float, metavar="B", default=DEFAULTS["beta"],
                        help="gradient penalty (paper solver)")
    parser.add_argument("--max-epochs", type=int, metavar="N", default=DEFAULTS["max_epochs"],
                        help="Adam epochs at most (paper solver; early stopping usually ends sooner)")
    parser.add_argument("--random-state", type=int, metavar="SEED", default=0,
                        help="seed of the paper solver's batches and validation split (default: 0, so that "
                             "the same command gives the same model; the Python default None draws a fresh "
                             "seed)")
    parser.add_argument("--device", default=DEFAULTS["device"], help="auto (a GPU if there is one), cpu or cuda")
    add_verbose(parser, "fitting")
    parser.set_defaults(func=run)


def run(args):
    import weightcast
    from ..datasets import split_sequences
    from ..io.files import read_data

    S = read_data(args.data, args.dataset)
    X, Y = split_sequences(S, args.n_input_steps, args.m)
    estimator = getattr(weightcast, MODELS[args.model])(
        solver=args.solver, alpha=args.alpha, beta=args.beta, max_epochs=args.max_epochs, device=args.device,
        random_state=args.random_state, verbose=int(args.verbose))
    estimator.fit(X, Y)
    estimator.save(args.out)
    print(f"saved {type(estimator).__name__} ({X.shape[1]} input steps -> {estimator.horizon_} steps, "
          f"{X.shape[0]} sequences x {X.shape[2]} parameters) to {args.out}")
    return 0
