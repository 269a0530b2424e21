#!/usr/bin/env python3
"""Time to partition PaLM 540B (palm-2d): a small mesh against PaLM's pod.

Generates palm-540b with palm-2d for each mesh, then times
`palm-opt -palm-spmd-pipeline` on it (best and median of --repeat runs, wall
clock, process start included) and prints the ratio of the two meshes: the
partitioner's work must not grow with the number of devices.

Usage: bench/partition_time.py [--build build] [--repeat 5]
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

MESHES = ["data=2,model=2", "data=256,model=12"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default="build")
    parser.add_argument("--preset", default="palm-540b")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    gen = os.path.join(args.build, "bin", "palm-gen")
    opt = os.path.join(args.build, "bin", "palm-opt")

    print(f"command: {' '.join(sys.argv)}")
    print(f"machine: {platform.node()} ({platform.machine()}), "
          f"{os.cpu_count()} cores")
    print(f"model: {args.preset}, layout palm-2d; "
          f"palm-opt -palm-spmd-pipeline, {args.repeat} runs each")
    print()
    print(f"{'mesh':<20} {'devices':>8} {'generate s':>11} {'best s':>8} "
          f"{'median s':>9}")
    medians = []
    with tempfile.TemporaryDirectory() as tmp:
        for mesh in MESHES:
            path = os.path.join(tmp, "model.mlir")
            start = time.perf_counter()
            subprocess.run([gen, "--preset", args.preset, "--layout", "palm-2d",
                            "--mesh", mesh, "-o", path], check=True)
            generate = time.perf_counter() - start
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                subprocess.run([opt, path, "-palm-spmd-pipeline", "-o",
                                os.devnull], check=True)
                times.append(time.perf_counter() - start)
            devices = 1
            for part in mesh.split(","):
                devices *= int(part.split("=")[1])
            medians.append(statistics.median(times))
            print(f"{mesh:<20} {devices:>8} {generate:>11.3f} {min(times):>8.3f} "
                  f"{statistics.median(times):>9.3f}")
    print()
    print(f"median ratio {MESHES[1]} / {MESHES[0]}: "
          f"{medians[1] / medians[0]:.2f}")


if __name__ == "__main__":
    main()
