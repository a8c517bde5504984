"""``saddlepoint special``: log Z_N(kappa), A_N(kappa) and A_N'(kappa) at one point."""

import argparse
import json
import math

__all__ = ["register", "run"]


def _real(flag):
    """An argparse type parsing a finite real number, naming ``flag`` when it fails."""

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} expects a real number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{flag} must be finite, got {text!r}")
        return value

    parse.__name__ = flag  # argparse shows the type's name in some messages
    return parse


def register(sub):
    p = sub.add_parser(
        "special",
        help="vMF log-normaliser, mean resultant length and its derivative",
        description=(
            "Evaluate log Z_N(kappa) (w.r.t. the uniform probability measure on S^{N-1}), "
            "A_N(kappa) = I_{N/2}/I_{N/2-1} and A_N'(kappa), accurate to ~1e-12 relative for "
            "2 <= N <= 1e7 and 0 <= kappa <= 1e8."
        ),
    )
    p.add_argument("--n", type=_real("--n"), required=True, help="dimension N >= 2")
    p.add_argument("--kappa", type=_real("--kappa"), required=True, help="concentration kappa >= 0")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.set_defaults(func=run)


def run(args):
    from .. import special  # here, not at import: building the CLI parser stays light

    if not args.n >= 2:
        raise ValueError(f"--n must be >= 2, got {args.n!r}")
    if not args.kappa >= 0:
        raise ValueError(f"--kappa must be >= 0, got {args.kappa!r}")
    result = {
        "log_normalizer": float(special.log_vmf_normalizer(args.n, args.kappa)),
        "A": float(special.mean_resultant_length(args.n, args.kappa)),
        "A_prime": float(special.mean_resultant_length_prime(args.n, args.kappa)),
    }
    if args.json:
        # json writes floats with repr, i.e. the shortest string that round-trips exactly
        print(json.dumps(result))
    else:
        print(f"N = {args.n!r}, kappa = {args.kappa!r}")
        for key, value in result.items():
            print(f"{key:15s} {value!r}")
    return 0
