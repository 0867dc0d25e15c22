"""``wangge vrp solve``: routing benchmark instances (TSPLIB/VRPLIB) with dispatch's solver."""

from __future__ import annotations

import argparse
import json


def register(sub) -> None:
    """Add ``vrp solve`` to an argparse subparsers object."""
    vrp = sub.add_parser("vrp", help="路径基准 routing benchmark instances").add_subparsers(
        dest="vrp_command", required=True)
    p = vrp.add_parser("solve", help="solve a TSPLIB/VRPLIB file (TSP, CVRP, VRPTW)")
    p.add_argument("file")
    p.add_argument("--seconds", type=float, default=5.0, help="time limit (default 5)")
    p.add_argument("--seed", type=int, default=None,
                   help="随机种子: 同一输入与种子给出同样路线 same input and seed, same routes")
    p.add_argument("--json", action="store_true", help='print {"cost", "routes", "seconds"}')
    p.set_defaults(func=cmd_vrp_solve)


def cmd_vrp_solve(args: argparse.Namespace) -> int:
    """``wangge vrp``: solve a TSPLIB / VRPLIB instance with OR-Tools and print the cost."""
    from dispatch.routing.vrp import read_instance, solve

    solution = solve(read_instance(args.file), args.seconds, args.seed)
    result = {"cost": solution.cost, "routes": solution.routes, "seconds": solution.seconds}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"费用 cost {solution.cost} ({len(solution.routes)} routes, {solution.seconds} s)")
        for i, route in enumerate(solution.routes, 1):
            print(f"Route #{i}: {' '.join(map(str, route))}")
    return 0
