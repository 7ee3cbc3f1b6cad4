#!/usr/bin/env bash
# Whole-process `policy lint` timings (README "Performance"): a seed config (a few KB, what
# users write), the 1.5 MB config with 10,000 content-filter rules, 200 small files in one call,
# peak memory, and lintel (the Rust JSON-Schema linter) on the same files and schema in the same
# run when a `lintel` binary is on PATH or in $LINTEL (npm: @lintel/cli-linux-x64), with the
# ratios of the medians. Runs are interleaved so machine noise hits every
# tool alike; medians are reported. Usage: bench/lint-speed.sh [RUNS]   (default 40)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-40}
cargo build --release -q --bin policy
POLICY=$PWD/target/release/policy
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 - "$WORK" <<'PY'
import sys, os
work = sys.argv[1]
s = ("pack:\n  name: bench\n  version: 1.0.0\nproviders:\n  targets:\n    - id: openai-primary\n"
     "      provider: openai\n      base_url: https://api.openai.com\n      secret_key_ref: { env: OPENAI_API_KEY }\n"
     "policies:\n  chain: [prompt-injection, pii-detector, content-filter]\npolicy:\n  content-filter:\n    rules:\n")
x, M = 0x2545f4914f6cdd1d, (1 << 64) - 1
for i in range(10000):
    x ^= (x << 13) & M; x ^= x >> 7; x ^= (x << 17) & M
    word = ''.join(chr(ord('a') + ((x >> (k * 5)) % 26)) for k in range(8))
    action = ["block", "redact", "log"][x % 3]
    s += (f"      - id: rule-{i:05}\n        pattern: \"(?i)\\\\b{word}[0-9]{{2,8}}\\\\b\"\n"
          f"        action: {action}\n        message: \"blocked by content-filter rule {i} of pack\"\n")
open(os.path.join(work, "big.yaml"), "w").write(s)
schema = os.path.abspath("schema/policy-config.schema.json")
open(os.path.join(work, "big-lintel.yaml"), "w").write(f"# yaml-language-server: $schema={schema}\n" + s)
os.makedirs(os.path.join(work, "many"))
seeds = [open(f"fixtures/seed/tutorial-v0.1.{k}.yaml").read() for k in (0, 1)]
for i in range(200):
    open(os.path.join(work, "many", f"f{i}.yaml"), "w").write(seeds[i % 2])
open(os.path.join(work, "seed.yaml"), "w").write(seeds[1])
open(os.path.join(work, "seed-lintel.yaml"), "w").write(f"# yaml-language-server: $schema={schema}\n" + seeds[1])
print(f"big.yaml: {len(s)} bytes, 10000 rules")
PY
LINTEL=${LINTEL:-$(command -v lintel || true)}
cd "$WORK"
python3 - "$RUNS" "$POLICY" "$LINTEL" <<'PY'
import subprocess, sys, time, statistics
runs, policy, lintel = int(sys.argv[1]), sys.argv[2], sys.argv[3]
cases = [("policy lint big.yaml (1.5 MB)", [policy, "lint", "big.yaml"]),
         ("policy lint seed.yaml (few KB)", [policy, "lint", "seed.yaml"]),
         # What starting any process costs through this harness: subtract it from small figures.
         ("/bin/true (harness overhead)", ["/bin/true"]),
         ("policy lint 200 small files", [policy, "lint"] + [f"many/f{i}.yaml" for i in range(200)])]
if lintel:
    cases.append(("lintel check big.yaml", [lintel, "check", "--no-catalog", "--force-validation", "big-lintel.yaml"]))
    cases.append(("lintel check seed.yaml", [lintel, "check", "--no-catalog", "--force-validation", "seed-lintel.yaml"]))
times = {name: [] for name, _ in cases}
def cpu():  # (steal, total) jiffies from /proc/stat: on a VM, time the host gave to other guests
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return f[7], sum(f[:8])
steal0 = cpu()
for _ in range(runs):
    for name, cmd in cases:
        t = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times[name].append((time.perf_counter() - t) * 1000)
for name, _ in cases:
    t = sorted(times[name])
    print(f"{name:34} median {statistics.median(t):6.1f} ms   p25 {t[len(t)//4]:6.1f}   min {t[0]:6.1f}   ({runs} runs)")
steal1 = cpu()
if steal1[1] > steal0[1]:
    print(f"{'CPU stolen by the host meanwhile':34} {100 * (steal1[0] - steal0[0]) / (steal1[1] - steal0[1]):.1f} %")
if lintel:
    for size, ours in (("big.yaml", cases[0][0]), ("seed.yaml", cases[1][0])):
        ratio = statistics.median(times[f"lintel check {size}"]) / statistics.median(times[ours])
        print(f"{'policy vs lintel, ' + size:34} {ratio:.1f}x faster (medians)")
peak = subprocess.run(["python3", "-c", "import resource,subprocess,sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
                       "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)", policy, "lint", "big.yaml"],
                      capture_output=True, text=True).stdout.strip()
print(f"{'peak memory, policy lint big.yaml':34} {int(peak) / 1024:.1f} MB")
PY
