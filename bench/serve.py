"""Does watching cost training? The same run from the command line and from the live page's
server (frames streaming to a reader as fast as it takes them), interleaved, medians.

    cargo build --release && python3 bench/serve.py [--repeats 5] [--out bench/results/serve-llvmpipe.md]

For each setup: `xorgpu --epochs N --json` gives the training loop's seconds; the server
runs the same setup with `epochs=N`, played from epoch 0 to N, and its last frame gives the
seconds it spent playing, frames and their read-backs included. The two alternate (CLI,
page, CLI, page, …) so that drift on a shared machine hits both alike. The issue's target:
the page at most 10% slower.
"""

import argparse
import http.client
import json
import os
import platform
import re
import statistics
import subprocess
import time

BINARY = os.path.join(os.path.dirname(__file__), "..", "target", "release", "xorgpu")

# (name, page query, command-line arguments, epochs)
SETUPS = [
    ("XOR 2-2-1, GPU", "backend=gpu", ["--backend", "gpu"], 2_000_000),
    ("XOR 2-2-1, CPU", "backend=cpu", ["--backend", "cpu"], 20_000_000),
    (
        "spiral 2-8-8-1 tanh adam, 500 samples, GPU",
        "backend=gpu&dataset=spiral&batch=500&hidden=8,8&activation=tanh&optimizer=adam",
        ["--backend", "gpu", "--dataset", "spiral", "--batch", "500", "--layers", "2,8,8,1", "--activation", "tanh",
         "--optimizer", "adam", "--noise", "0"],
        4_000,
    ),
    (
        "spiral 2-8-8-1 tanh adam, 500 samples, CPU",
        "backend=cpu&dataset=spiral&batch=500&hidden=8,8&activation=tanh&optimizer=adam",
        ["--backend", "cpu", "--dataset", "spiral", "--batch", "500", "--layers", "2,8,8,1", "--activation", "tanh",
         "--optimizer", "adam", "--noise", "0"],
        20_000,
    ),
    (
        "noisy XOR 2-2-1, 100,000 samples, GPU",
        "backend=gpu&batch=100000",
        ["--backend", "gpu", "--batch", "100000"],
        1_000,
    ),
    (
        "noisy XOR 2-2-1, 100,000 samples, CPU",
        "backend=cpu&batch=100000",
        ["--backend", "cpu", "--batch", "100000"],
        3_000,
    ),
]


def cli_seconds(args, epochs):
    out = subprocess.run([BINARY, *args, "--epochs", str(epochs), "--json", "--quiet"], capture_output=True, check=True)
    return json.loads(out.stdout)["seconds"]


def events(response):
    """(event, data) pairs of a server-sent event stream."""
    name, data = "message", []
    for raw in response:
        line = raw.decode().rstrip("\n")
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))


def page_seconds(port, query, epochs):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    conn.request("POST", f"/api/run?{query}&epochs={epochs}")
    response = conn.getresponse()
    assert response.status == 200, response.read()
    stream = events(response)
    frames = 0
    for name, data in stream:
        if name == "setup":
            run = json.loads(data)["id"]
            c = http.client.HTTPConnection("127.0.0.1", port)
            c.request("POST", f"/api/run/{run}/play")
            assert c.getresponse().status == 200
        elif name == "frame":
            frames += 1
            frame = json.loads(data)
            if frame["done"]:
                conn.close()
                return frame["seconds"], frames
        else:
            raise RuntimeError(f"{name}: {data}")
    raise RuntimeError("the stream ended early")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out")
    args = parser.parse_args()
    server = subprocess.Popen([BINARY, "serve", "--port", "0"], stdout=subprocess.PIPE, text=True)
    banner = server.stdout.readline()
    port = int(re.search(r":(\d+)/", banner).group(1))
    adapter = re.search(r"\(GPU (.*); at most", banner).group(1)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    rows = []
    try:
        for name, query, cli_args, epochs in SETUPS:
            cli, page, frames = [], [], []
            for _ in range(args.repeats):
                cli.append(cli_seconds(cli_args, epochs))
                seconds, n = page_seconds(port, query, epochs)
                page.append(seconds)
                frames.append(n)
            c, p = statistics.median(cli), statistics.median(page)
            rows.append((name, epochs, c, p, statistics.median(frames) / p, p / c - 1))
            print(f"{name}: {epochs} epochs, command line {c:.3f} s, page {p:.3f} s ({rows[-1][4]:.0f} frames/s), {100 * rows[-1][5]:+.1f}%", flush=True)
    finally:
        server.terminate()
        server.wait()
    lines = [
        "# Watching costs training little: the live page against the command line",
        "",
        f"`python3 bench/serve.py --repeats {args.repeats}`, {time.strftime('%Y-%m-%d')}. GPU: {adapter}. CPU: {cpu}.",
        "Medians of the repeats, command line and page alternating; the page's seconds are its",
        "time playing, frames included; a reader takes every frame as it comes.",
        "",
        "| setup | epochs | command line s | page s | frames/s | page vs command line |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, epochs, c, p, fps, d in rows:
        lines.append(f"| {name} | {epochs:,} | {c:.3f} | {p:.3f} | {fps:.0f} | {100 * d:+.1f}% |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
