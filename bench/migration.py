#!/usr/bin/env python3
"""Measures live migration and interrupt latency with the release binaries.

    cargo build --release && python3 bench/migration.py [--runs N]

Prints, for the seed loop and for a program holding 65,000 stack values, the median (and min/max)
migration downtime and total time over N migrations, each into a fresh `mova serve`, as reported by
`movahv migrate --json`; and the median round trip of an interrupt request in a tight loop without
sleeps (sent over the control protocol directly: Interrupt, then time until the VM's Ok, then
Resume). Nothing is asserted: these are measurements.
"""

import argparse
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")

SEED = "var i = 0;\nloop:\n    i++;\n    print(i);\n    sleep(100);\n"
# Pushes 65,000 values, then sleeps in a loop: the stack segment is what moves.
BIG_STACK = """        PUT 0
fill:   DUP
        ADD 1
        DUP
        PUT 64999
        LT
        JNZ fill
spin:   SLEEP 10
        GOTO spin
"""
TIGHT = "var i = 0;\nloop { i++; }\n"


def wait_record(runtime, pid, timeout=10.0):
    path = os.path.join(runtime, f"{pid}.json")
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError):
            time.sleep(0.005)
    raise RuntimeError(f"no runtime record for pid {pid}")


def spawn(args, runtime):
    env = dict(os.environ, MOVA_RUNTIME_DIR=runtime)
    proc = subprocess.Popen(
        [os.path.join(BIN, "mova")] + args,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    wait_record(runtime, proc.pid)
    return proc


def migrations(program, runs, runtime, settle):
    """Migrates `program` `runs` times, each into a fresh blank VM; returns the stats."""
    env = dict(os.environ, MOVA_RUNTIME_DIR=runtime)
    procs = [spawn([program], runtime)]
    time.sleep(settle)
    results = []
    try:
        for _ in range(runs):
            target = spawn(["serve"], runtime)
            procs.append(target)
            out = subprocess.run(
                [os.path.join(BIN, "movahv"), "migrate", str(procs[-2].pid), str(target.pid), "--json"],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
            )
            if out.returncode != 0:
                raise RuntimeError(out.stderr)
            results.append(json.loads(out.stdout))
            procs[-2].wait(timeout=10)
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
    return results


def frame(kind, payload=b""):
    return struct.pack(">IB", len(payload) + 1, kind) + payload


def read_frame(sock):
    def exact(n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise RuntimeError("connection closed")
            data += chunk
        return data

    (length,) = struct.unpack(">I", exact(4))
    body = exact(length)
    return body[0], body[1:]


def interrupt_latency(program, runs, runtime):
    proc = spawn([program], runtime)
    try:
        record = wait_record(runtime, proc.pid)
        host, port = record["addr"].rsplit(":", 1)
        sock = socket.create_connection((host, int(port)))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(frame(0x01, struct.pack(">H", 1) + bytes.fromhex(record["token"])))
        assert read_frame(sock)[0] == 0x81
        times = []
        for _ in range(runs):
            time.sleep(0.002)  # let it run flat out again
            start = time.perf_counter()
            sock.sendall(frame(0x02))
            kind, _ = read_frame(sock)
            times.append(time.perf_counter() - start)
            assert kind == 0x81
            sock.sendall(frame(0x03))
            assert read_frame(sock)[0] == 0x81
        return times
    finally:
        proc.kill()
        proc.wait()


def summary(values_ms):
    return (
        f"median {statistics.median(values_ms):.3f} ms "
        f"(min {min(values_ms):.3f}, max {max(values_ms):.3f}, n={len(values_ms)})"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    for binary in ("mova", "movahv", "movac"):
        if not os.path.exists(os.path.join(BIN, binary)):
            sys.exit(f"{binary} is not built: run `cargo build --release` first")
    with tempfile.TemporaryDirectory() as work:
        runtime = os.path.join(work, "run")
        seed = os.path.join(work, "seed.mova")
        big = os.path.join(work, "big.mvasm")
        tight = os.path.join(work, "tight.mova")
        for path, text in ((seed, SEED), (big, BIG_STACK), (tight, TIGHT)):
            with open(path, "w") as f:
                f.write(text)
        for name, program, settle in (("seed loop", seed, 0.2), ("65,000 stack values", big, 0.5)):
            stats = migrations(program, args.runs, runtime, settle)
            print(f"migration, {name}: {stats[0]['bytes']} bytes")
            print(f"  downtime  {summary([s['downtime_ms'] for s in stats])}")
            print(f"  total     {summary([s['total_ms'] for s in stats])}")
        latency = interrupt_latency(tight, max(args.runs * 4, 200), runtime)
        print("interrupt in a tight loop, request to paused answer (round trip):")
        print(f"  {summary([t * 1e3 for t in latency])}")


if __name__ == "__main__":
    main()
