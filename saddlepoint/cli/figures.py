"""``saddlepoint figures``: regenerate every figure (the package's main job)."""

from ..figures import available_figures, make_figures


def register(sub):
    p = sub.add_parser("figures", help="regenerate the figures and phase diagrams")
    p.add_argument("--out", default="figures", help="output directory (default: figures)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="make only these figures")
    p.add_argument("--quick", action="store_true", help="reduced resolution, for a smoke run")
    p.add_argument("--list", action="store_true", help="list the figures and exit")
    p.set_defaults(func=run)


def run(args):
    if args.list:
        for name, desc in available_figures().items():
            print(f"{name:28s} {desc}")
        return 0
    written = make_figures(args.out, names=args.only, quick=args.quick)
    for name, paths in written.items():
        for path in paths:
            print(f"{name}: {path}")
    return 0
