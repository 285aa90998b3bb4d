#!/usr/bin/env bash
# `make demo`: the main job end to end on the bundled spam example, in build/demo.
#   1. gristmill run: labeling functions -> label model -> model search -> evaluation overall and
#      per slice -> HTML report -> MLflow run with the model registered (youtube-spam@challenger)
#   2. gristmill models promote: version 1 becomes youtube-spam@champion
#   3. gristmill serve youtube-spam@champion: predict two comments over HTTP, send their labels
#   4. gristmill monitor: compare the comments of one video with the training reference (drift)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.venv/bin"
demo="${GRISTMILL_DEMO_DIR:-$root/build/demo}"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

rm -rf "$demo"
"$bin/gristmill" init "$demo" --example spam
cd "$demo"

step "gristmill run (label, train, evaluate, report, track)"
"$bin/gristmill" run

step "gristmill models promote youtube-spam 1"
"$bin/gristmill" models promote youtube-spam 1

port=$("$bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
step "gristmill serve youtube-spam@champion --port $port"
"$bin/gristmill" serve youtube-spam@champion --port "$port" --poll-interval 0 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT

"$bin/python" - "$port" <<'PY'
import json, sys, time, urllib.error, urllib.request

base = f"http://127.0.0.1:{sys.argv[1]}"


def call(path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


deadline = time.monotonic() + 120
while True:
    try:
        print("GET /health ->", call("/health"))
        break
    except (urllib.error.URLError, ConnectionError):
        if time.monotonic() > deadline:
            sys.exit("the service did not start within 120 s")
        time.sleep(0.5)
records = [
    {"CONTENT": "Check out my channel, subscribe for free iPhones http://bit.ly/xyz",
     "AUTHOR": "promo king", "DATE": "2015-05-28T10:00:00"},
    {"CONTENT": "This song always makes me smile, love it", "AUTHOR": "Ana",
     "DATE": "2015-05-28T11:30:00"},
]
answer = call("/predict", {"records": records})
print("POST /predict ->", json.dumps(answer, indent=2))
print("POST /feedback ->", call("/feedback", {"request_id": answer["request_id"],
                                              "labels": ["spam", "ham"]}))
PY

step "gristmill monitor youtube-spam@champion --current shakira.csv"
"$bin/python" -c 'import pandas as pd; f = pd.read_csv("data/youtube.csv"); f[f.VIDEO == "Shakira"].to_csv("shakira.csv", index=False)'
# Exit code 3 means drift above the thresholds: that is a finding, not a failure of the demo.
"$bin/gristmill" monitor youtube-spam@champion --current shakira.csv || [ $? -eq 3 ]
