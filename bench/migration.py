#!/usr/bin/env python3
"""Measures live migration and interrupt latency with the release binaries.

    cargo build --release && python3 bench/migration.py [--runs N] [--tls-ip IP] [--netns]

Prints, for the seed loop, for a program holding 65,000 stack values and for a program holding
about 10 MB of heap (an array of 1,000,000 ints and 100,000 strings), the median (and min/max)
migration downtime and total time over N migrations, each into a fresh `mova serve`, as reported by
`movahv migrate --json`; for the heap program also the image's size, the rate it moved at, and the
floor under its downtime on this machine: the median time to copy as many bytes over a loopback TCP
connection (Python, 64 KiB writes), which every migration pays twice in the same way (source to
movahv, movahv to target). Then the median round trip of an interrupt request in a tight loop
without sleeps (sent over the control protocol directly: Interrupt, then time until the VM's Ok,
then Resume). With a non-loopback address of this machine (found, or `--tls-ip IP`), the seed loop
and the heap program are migrated again between VMs listening there, whose channel is TLS, to
show what TLS costs. With `--netns` (as root), they are migrated instead between two network
namespaces joined by a veth pair, each migration to the other namespace, as between two hosts.
Nothing is asserted: these are measurements.
"""

import argparse
import hashlib
import hmac
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
# The control protocol's version (`PROTOCOL_VERSION` in vm/src/protocol.rs), sent in the Hello.
PROTOCOL_VERSION = 3
TIGHT = "var i = 0;\nloop { i++; }\n"
# About 10 MB of heap: 1,000,000 ints (8 MB) and 100,000 strings of about 22 bytes (2.2 MB), then
# a slow loop that keeps changing both, so the collector has garbage to drop before every save.
HEAP = """var numbers = array(1000000, 0);
var i = 0;
while i < len(numbers) {
    numbers[i] = i * 7;
    i++;
}
var words: [str] = [];
i = 0;
while i < 100000 {
    push(words, "word " + str(i) + " of the heap");
    i++;
}
var n = 0;
loop {
    n++;
    numbers[n % 1000000] = n;
    words[n % 100000] = "changed " + str(n);
    sleep(10);
}
"""


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


def spawn(args, runtime, log=None, listen=None, netns=None):
    """Starts a VM (its standard error into the file `log`, if given) and waits for its record."""
    env = dict(os.environ, MOVA_RUNTIME_DIR=runtime)
    stderr = open(log, "wb") if log else subprocess.DEVNULL
    try:
        mova = os.path.join(BIN, "mova")
        where = ["--listen", listen] if listen else []
        command = [mova, "serve", *where] if args == ["serve"] else [mova, *where, *args]
        if netns:
            command = ["ip", "netns", "exec", netns, *command]
        proc = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )
    finally:
        if log:
            stderr.close()
    wait_record(runtime, proc.pid)
    return proc


def what_it_said(path):
    """What a VM said on standard error: the first line of its error or trap report (which goes
    on with the source line in a frame), else its last line."""
    try:
        with open(path, errors="replace") as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        return ""
    errors = [line for line in lines if "error" in line.lower() or "trap" in line.lower()]
    return errors[0] if errors else (lines or [""])[-1]


def migrations(program, runs, runtime, settle, listen=None, hosts=None):
    """Migrates `program` `runs` times, each into a fresh blank VM (the VMs listening on
    `listen`, if given; or, with `hosts`, a list of (namespace, address), alternately in each,
    `movahv` running in the first); returns the stats."""
    env = dict(os.environ, MOVA_RUNTIME_DIR=runtime)
    # The VMs' standard error, beside the runtime directory (which the VMs create, private).
    base = os.path.join(os.path.dirname(runtime), os.path.basename(program))
    logs = [f"{base}.vm-0.err"]
    def where(n):
        if hosts:
            return {"listen": hosts[n % 2][1], "netns": hosts[n % 2][0]}
        return {"listen": listen}

    procs = [spawn([program], runtime, logs[0], **where(0))]
    time.sleep(settle)
    results = []
    try:
        for n in range(runs):
            # The VM that holds the computation must still be running it.
            status = procs[-1].poll()
            if status is not None:
                what = "the program" if n == 0 else f"the target of migration {n}"
                raise RuntimeError(
                    f"{what} exited with status {status} before migration {n + 1}: "
                    f"{what_it_said(logs[-1]) or 'no message'}"
                )
            logs.append(f"{base}.vm-{n + 1}.err")
            target = spawn(["serve"], runtime, logs[-1], **where(n + 1))
            procs.append(target)
            inside = ["ip", "netns", "exec", hosts[0][0]] if hosts else []
            out = subprocess.run(
                inside
                + [os.path.join(BIN, "movahv"), "migrate", str(procs[-2].pid), str(target.pid), "--json"],
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
            )
            if out.returncode != 0:
                message = out.stderr.strip()
                if procs[-2].poll() is not None:
                    what = "the program" if n == 0 else f"the target of migration {n}"
                    message += (
                        f" ({what} exited with status {procs[-2].returncode}: "
                        f"{what_it_said(logs[-2]) or 'no message'})"
                    )
                raise RuntimeError(message)
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


def proof(token, role, client_nonce, vm_nonce):
    """A handshake proof (vm/src/auth.rs), on a plain connection (no channel binding)."""
    message = b"mova control v3 " + role + b"\x00" + client_nonce + vm_nonce
    return hmac.new(token, message, hashlib.sha256).digest()


def handshake(sock, token):
    """The client's side of the challenge-response handshake (docs/protocol.md)."""
    nonce = os.urandom(32)
    sock.sendall(frame(0x01, struct.pack(">H", PROTOCOL_VERSION) + nonce))
    kind, payload = read_frame(sock)
    if kind != 0x86:
        raise RuntimeError(f"the VM refused the hello: {payload.decode(errors='replace')}")
    vm_nonce, vm_proof = payload[:32], payload[32:]
    if not hmac.compare_digest(vm_proof, proof(token, b"vm", nonce, vm_nonce)):
        raise RuntimeError("the VM could not prove it holds the token")
    sock.sendall(frame(0x0C, proof(token, b"client", nonce, vm_nonce)))
    kind, payload = read_frame(sock)
    if kind != 0x81:
        raise RuntimeError(f"the VM refused the proof: {payload.decode(errors='replace')}")


def non_loopback_ip():
    """An address of this machine that is not a loopback one, or None."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))
            ip = probe.getsockname()[0]
        if ip.startswith("127.") or ip == "0.0.0.0":
            return None
        socket.create_server((ip, 0)).close()
        return ip
    except OSError:
        return None


def namespaces():
    """Two network namespaces joined by a veth pair: [(name, address), (name, address)], and the
    command that removes them."""
    tag = str(os.getpid() % 100000)
    names = [f"mova-bench-{tag}-a", f"mova-bench-{tag}-b"]
    links = [f"mvb{tag}a", f"mvb{tag}b"]
    subnet = f"10.201.{os.getpid() % 250 + 1}"

    def ip(*args):
        subprocess.run(["ip", *args], check=True, capture_output=True)

    for name in names:
        ip("netns", "add", name)
    ip("link", "add", links[0], "type", "veth", "peer", "name", links[1])
    hosts = []
    for index, (name, link) in enumerate(zip(names, links)):
        ip("link", "set", link, "netns", name)
        ip("-n", name, "addr", "add", f"{subnet}.{index + 1}/24", "dev", link)
        ip("-n", name, "link", "set", link, "up")
        ip("-n", name, "link", "set", "lo", "up")
        hosts.append((name, f"{subnet}.{index + 1}"))

    def remove():
        for name in names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)

    return hosts, remove


def interrupt_latency(program, runs, runtime):
    proc = spawn([program], runtime)
    try:
        record = wait_record(runtime, proc.pid)
        host, port = record["addr"].rsplit(":", 1)
        sock = socket.create_connection((host, int(port)))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        handshake(sock, bytes.fromhex(record["token"]))
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


def loopback_copy(nbytes, runs):
    """The times (seconds) to send `nbytes` over a loopback TCP connection and receive them all."""
    listener = socket.create_server(("127.0.0.1", 0))
    sender = socket.create_connection(listener.getsockname())
    receiver, _ = listener.accept()
    listener.close()
    for sock in (sender, receiver):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    chunk = b"\x5a" * 65536
    buffer = bytearray(1 << 20)
    times = []
    try:
        for _ in range(runs):
            start = time.perf_counter()
            sent = received = 0
            # Alternate writing and reading so that neither side's buffer fills and blocks.
            while received < nbytes:
                if sent < nbytes:
                    sent += sender.send(chunk[: min(len(chunk), nbytes - sent)])
                got = receiver.recv_into(buffer)
                if got == 0:
                    raise RuntimeError("loopback connection closed")
                received += got
            times.append(time.perf_counter() - start)
    finally:
        sender.close()
        receiver.close()
    return times


def compiles(program):
    """Whether `movac` accepts `program`, and its message if not."""
    out = subprocess.run(
        [os.path.join(BIN, "movac"), program, "-o", os.devnull],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.returncode == 0, out.stderr.strip()


def summary(values_ms):
    return (
        f"median {statistics.median(values_ms):.3f} ms "
        f"(min {min(values_ms):.3f}, max {max(values_ms):.3f}, n={len(values_ms)})"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--tls-ip", help="a non-loopback address of this machine for the TLS runs")
    parser.add_argument(
        "--netns", action="store_true", help="the TLS runs between two network namespaces (root)"
    )
    args = parser.parse_args()
    for binary in ("mova", "movahv", "movac"):
        if not os.path.exists(os.path.join(BIN, binary)):
            sys.exit(f"{binary} is not built: run `cargo build --release` first")
    with tempfile.TemporaryDirectory() as work:
        runtime = os.path.join(work, "run")
        seed = os.path.join(work, "seed.mova")
        big = os.path.join(work, "big.mvasm")
        tight = os.path.join(work, "tight.mova")
        heap = os.path.join(work, "heap.mova")
        for path, text in ((seed, SEED), (big, BIG_STACK), (tight, TIGHT), (heap, HEAP)):
            with open(path, "w") as f:
                f.write(text)
        cases = [("seed loop", seed, 0.2), ("65,000 stack values", big, 0.5)]
        heap_ok, heap_error = compiles(heap)
        if heap_ok:
            cases.append(("about 10 MB of heap", heap, 1.0))
        else:
            print("migration, about 10 MB of heap: not measured: this movac cannot compile it:")
            print("  " + heap_error.replace("\n", "\n  "))
        tls_ip = args.tls_ip or non_loopback_ip()
        remove = None
        if args.netns:
            hosts, remove = namespaces()
            cases += [
                (f"{name}, over TLS between two network namespaces", program, settle, None, hosts)
                for name, program, settle in list(cases)
                if program in (seed, heap)
            ]
        elif tls_ip:
            cases += [
                (f"{name}, over TLS (on {tls_ip})", program, settle, tls_ip)
                for name, program, settle in list(cases)
                if program in (seed, heap)
            ]
        else:
            print("migration over TLS: not measured: this machine has no non-loopback address")
        try:
            for name, program, settle, *where in cases:
                try:
                    stats = migrations(program, args.runs, runtime, settle, *where)
                except (RuntimeError, subprocess.TimeoutExpired) as error:
                    # A migration that fails (a target that cannot run what it received, say) is
                    # reported, and the other measurements still run.
                    print(f"migration, {name}: failed: {str(error).strip()}")
                    continue
                nbytes = stats[0]["bytes"]
                downtimes = [s["downtime_ms"] for s in stats]
                print(f"migration, {name}: {nbytes} bytes")
                print(f"  downtime  {summary(downtimes)}")
                print(f"  total     {summary([s['total_ms'] for s in stats])}")
                if program == heap:
                    rate = nbytes / 1e6 / (statistics.median(downtimes) / 1e3)
                    floor = [t * 1e3 for t in loopback_copy(nbytes, args.runs)]
                    print(f"  rate      {rate:.0f} MB/s of image over the median downtime")
                    print(f"  loopback  {summary(floor)} to copy {nbytes} bytes once")
        finally:
            if remove:
                remove()
        latency = interrupt_latency(tight, max(args.runs * 4, 200), runtime)
        print("interrupt in a tight loop, request to paused answer (round trip):")
        print(f"  {summary([t * 1e3 for t in latency])}")


if __name__ == "__main__":
    main()
