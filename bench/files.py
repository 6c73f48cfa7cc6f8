"""File bytes on disk and in an S3 bucket: upload and download throughput, and the service's peak
memory during each.

`measure(start, work, mib, rounds)` starts the service twice, its files on disk and in a bucket
of `s3s-fs` (an S3 server over a directory, on this machine: it shares the two cores), and in
each round, on each, uploads a file of `mib` MiB with curl (streamed, no Content-Length) and
downloads it whole, timing both and reading the service's VmHWM after each (reset before it).
Without s3s-fs (on the PATH, or S3S_FS) only the disk is measured, and it says so.
"""
import os
import shutil
import socket
import subprocess
import time

ACCESS_KEY, SECRET_KEY, BUCKET = "bench-access-key", "bench-secret-key", "bench-files"
# Large uploads take long: the body timeout and the sweeps' grace allow them.
SETTINGS = {"MAX_FILE_BYTES": str(64 << 30), "BODY_TIMEOUT_SECONDS": "3600",
            "FILES_SWEEP_GRACE_SECONDS": "7200"}


def s3s_fs():
    return os.environ.get("S3S_FS") or shutil.which("s3s-fs")


def start_s3(work):
    """An s3s-fs over a fresh directory with one bucket: (process, endpoint)."""
    root = os.path.join(work, "s3")
    os.makedirs(os.path.join(root, BUCKET))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([s3s_fs(), "--host", "127.0.0.1", "--port", str(port),
                                "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY, root],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("s3s-fs did not start")


def transfer(target, token, path, mib):
    """Uploads `path` (`mib` MiB) to /files/big.bin, then downloads it: the MiB/s and peak RSS of
    each."""
    url = target.base + "/files/big.bin"
    auth = ["-H", "Authorization: Bearer " + token]
    measured = {}
    for step, command in (
            ("upload", ["curl", "-sf", "-o", "/dev/null", "-w", "%{time_total}", *auth,
                        "-H", "Content-Type: application/octet-stream", "-H", "Transfer-Encoding: chunked",
                        "-T", path, url]),
            ("download", ["curl", "-sf", "-o", "/dev/null", "-w", "%{time_total}", *auth, url])):
        rss_before = target.reset_peak_rss()
        seconds = float(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
        measured[step] = {"mib_per_s": mib / seconds, "peak_rss_mib": target.peak_rss_mib(),
                          "rss_before_mib": rss_before}
    return measured


def measure(start, call, admin, work, mib, rounds):
    """The results of `rounds` rounds on disk and in a bucket (see the module's documentation).
    `start(name, work, extra_env)` starts the service; `call` and `admin` log in."""
    path = os.path.join(work, "upload.bin")
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))
    stores = [("disk", SETTINGS)]
    s3 = None
    if s3s_fs():
        s3, endpoint = start_s3(work)
        stores.append(("bucket", {**SETTINGS, "FILES_URL": f"s3://{BUCKET}/bench", "AWS_ENDPOINT_URL": endpoint,
                                  "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}))
    else:
        print("files: s3s-fs not found (cargo install s3s-fs --version 0.14.1 --features binary --locked, "
              "or S3S_FS): the bucket is not measured", flush=True)
    targets = []
    results = []
    try:
        for store, env in stores:
            target = start(f"ours-files-{store}", work, extra_env=env)
            target.env["TOKEN"] = call("POST", target.base + "/auth/tokens", admin)["access_token"]
            targets.append((store, target))
        for round_ in range(1, rounds + 1):
            for store, target in targets:
                measured = transfer(target, target.env["TOKEN"], path, mib)
                for step, figures in measured.items():
                    result = {"scenario": f"files_{step}", "target": "ours", "store": store, "round": round_,
                              "mib": mib, **figures}
                    results.append(result)
                    print(f"files {step:8} {store:6} round {round_}: {mib} MiB at {figures['mib_per_s']:,.0f} MiB/s, "
                          f"peak RSS {figures['peak_rss_mib']:.1f} MiB (before: {figures['rss_before_mib']:.1f} MiB)",
                          flush=True)
    finally:
        for _, target in targets:
            target.stop()
        if s3:
            s3.kill()
            s3.wait()
        os.remove(path)
    return results
