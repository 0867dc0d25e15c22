"""The ``wangge`` command line: one module per command group, each adding its commands to the
parser with ``register(sub)``.

* :mod:`api.cli.partition` — ``import`` and ``partition``: study area files to plans;
* :mod:`api.cli.vrp` — ``vrp solve``: routing benchmark instances;
* :mod:`api.cli.demo` — ``demo``: the embedded data, then the service on it;
* :mod:`api.cli.dispatch` — ``assign``, ``patrol`` and ``party`` over a plan file;
* :mod:`api.cli.facilities` — ``facilities coverage`` and ``facilities site``: walking
  coverage of neighbourhood facilities and where new ones should go;
* :mod:`api.cli.maps` — ``map`` and ``assets install``;
* :mod:`api.cli.service` — ``serve`` and ``token``: the web service and its store;
* :mod:`api.cli.tracks` — ``track import``: a worker's GPS track against their route.

Messages are in Chinese with English alongside. Bad input ends with a message that names the
file, the feature and what to do, exit status 2, and no output file written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from api.cli import demo, dispatch, facilities, maps, partition, service, tracks, vrp
from gis.errors import WanggeError

# in the order of --help
COMMAND_GROUPS = (partition, vrp, demo, dispatch, facilities, maps, service, tracks)


def build_parser() -> argparse.ArgumentParser:
    """The ``wangge`` command line: one subcommand group per module of api.cli."""
    parser = argparse.ArgumentParser(
        prog="wangge", description="网格化管理 Wangge: community micro-grids, workers, routes")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``wangge`` command ``argv``; returns the exit status (2 for bad input, with the
    bilingual message on stderr)."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except WanggeError as exc:
        print(exc.bilingual(), file=sys.stderr)
        return 2

