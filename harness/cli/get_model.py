"""`thinkbench get-model NAME`: build (or reuse) a pretrained model from an offline source as a
standard HF checkpoint in the cache; prints its path last."""
from __future__ import annotations

import argparse
import sys

from harness.models import MODELS, build_model


def main(args: argparse.Namespace) -> int:
    if args.list:
        for name, source in MODELS.items():
            state = str(source.home()) if source.built() else "not built"
            print(f"{name:<24} {source.about}; {source.license}; hub: {source.hub_id}; {state}")
        return 0
    if args.name is None:
        print("thinkbench get-model: error: name a model (known: "
              f"{', '.join(MODELS.names())}) or use --list", file=sys.stderr)
        return 2
    source = MODELS.get(args.name)  # an unknown name is a ConfigError: one line, exit 2
    was_built = source.built() and not args.force
    path = build_model(args.name, force=args.force)
    if was_built:
        print(f"{args.name}: already built", file=sys.stderr)
    else:
        print(f"{args.name}: built; in a matrix: `path: {args.name}`", file=sys.stderr)
    print(path)
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    g = sub.add_parser("get-model", help="build (or reuse) a pretrained model from an offline source; "
                                         "prints its path last")
    g.add_argument("name", nargs="?", help="a registered model source (see --list)")
    g.add_argument("--list", action="store_true", help="list the model sources and whether each is built")
    g.add_argument("--force", action="store_true", help="rebuild even if built")
    g.set_defaults(fn=main)
