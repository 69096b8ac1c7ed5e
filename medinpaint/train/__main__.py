"""``python -m medinpaint.train`` / ``torchrun --nproc_per_node N -m medinpaint.train``: train one model."""

from __future__ import annotations

import argparse
import json
import sys

from medinpaint.errors import MedinpaintError


def main(argv: list[str] | None = None) -> int:
    from medinpaint.train.config import add_arguments, config_from_args
    from medinpaint.train.run import train

    parser = argparse.ArgumentParser(prog="python -m medinpaint.train",
                                     description="Train a medinpaint network with MSE.")
    add_arguments(parser)
    try:
        summary = train(config_from_args(parser.parse_args(argv)))
    except MedinpaintError as error:
        print(f"medinpaint train: {error}", file=sys.stderr)
        return 2
    if summary is not None:
        print(json.dumps({k: summary[k] for k in ("epochs", "steps", "best_score", "output")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
