#!/usr/bin/env python3
"""Runs one peer library on the benchmark's LLM work against an OpenAI-compatible server.

    python bench/peers/run_peer.py --peer distilabel|curator|data-designer \
        --setting default|tuned --work DIR --base-url http://127.0.0.1:PORT/v1 --out rows.jsonl \
        [--limit N] [--cache-dir DIR] [--concurrency N] [--venv DIR]

Any python3 may start it (VENV/bin/python, setup_venv.sh's launcher, is the usual one): it
re-executes itself under the peer's own virtualenv VENV/<peer>/bin/python (the three libraries
pin conflicting pandas versions, so each has its own). VENV is --venv, else $SYNTHQ_PEERS_VENV,
else the launcher venv it runs in, else ~/.cache/synthq/peers-venv. The libraries read their
offline and telemetry switches at import time, so they are set here before any is imported.

Writes one JSON line per input document to --out ({"id", "scene", "compositions", "query",
"scores", "total"}, null where the library lost the row), progress to stderr, and as the last
line of stdout one JSON summary. Exit 0 whenever the run ran, lost rows included; non-zero only
when it could not run.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PEERS = ("distilabel", "curator", "data-designer")
DEFAULT_VENV = os.path.join(os.path.expanduser("~"), ".cache", "synthq", "peers-venv")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--peer", required=True, choices=PEERS)
    p.add_argument("--setting", required=True, choices=("default", "tuned"))
    p.add_argument("--work", required=True, help="folder with spec.json and work.jsonl (bench/peers/work.ts)")
    p.add_argument("--base-url", required=True, help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8811/v1")
    p.add_argument("--out", required=True, help="rows JSONL to write")
    p.add_argument("--limit", type=int, default=None, help="only the first N documents")
    p.add_argument("--cache-dir", default=None, help="the libraries' caches and artefacts (default: a fresh temp dir, removed after)")
    p.add_argument("--concurrency", type=int, default=None,
                   help="override the concurrency knob (distilabel input_batch_size, Curator max_concurrent_requests, "
                        "data-designer max_parallel_requests)")
    p.add_argument("--venv", default=None,
                   help=f"root made by setup_venv.sh (default $SYNTHQ_PEERS_VENV, the launcher venv running this, or {DEFAULT_VENV})")
    args = p.parse_args(argv)
    args.venv = os.path.abspath(args.venv or default_venv_root())
    if args.limit is not None and args.limit < 1:
        p.error("--limit must be at least 1")
    if args.concurrency is not None and args.concurrency < 1:
        p.error("--concurrency must be at least 1")
    return args


def default_venv_root():
    if os.environ.get("SYNTHQ_PEERS_VENV"):
        return os.environ["SYNTHQ_PEERS_VENV"]
    prefix = os.path.realpath(sys.prefix)
    # Started by setup_venv.sh's launcher venv, which holds the peers' venvs.
    if all(os.path.exists(os.path.join(prefix, p, "bin", "python")) for p in PEERS):
        return prefix
    # Started by one of the peers' venvs.
    parent = os.path.dirname(prefix)
    if os.path.basename(prefix) in PEERS and os.path.isdir(os.path.join(parent, "tiktoken-cache")):
        return parent
    return DEFAULT_VENV


def ensure_venv(args):
    """Re-executes under VENV/<peer>/bin/python unless already there."""
    venv = os.path.realpath(os.path.join(args.venv, args.peer))
    if os.path.realpath(sys.prefix) == venv:
        return
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        sys.exit(f"run_peer: no virtualenv for {args.peer} at {venv}; run bench/peers/setup_venv.sh {args.venv}")
    # --venv last, so the re-executed run resolves the same root (later flags win in argparse).
    os.execv(python, [python, os.path.abspath(__file__), *sys.argv[1:], "--venv", args.venv])


def set_environment(args, cache_dir):
    """Offline, no telemetry, caches inside cache_dir. Must run before any peer import."""
    fixed = {
        # Telemetry and hosted viewers off; nothing but the server under test is reachable.
        "TELEMETRY_ENABLED": "false",
        "CURATOR_VIEWER": "0",
        "NEMO_TELEMETRY_ENABLED": "false",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "DO_NOT_TRACK": "1",
        # litellm would fetch its model price map from the internet at import.
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "DATA_DESIGNER_SKIP_MODEL_HEALTH_CHECKS": "1",
        "DISABLE_DATA_DESIGNER_PLUGINS": "true",
        "OPENAI_API_KEY": "x",
        # Every run must reach the server: Curator's response cache off; distilabel's is off
        # through use_cache=False; data-designer has none.
        "CURATOR_DISABLE_CACHE": "1",
        "CURATOR_CACHE_DIR": os.path.join(cache_dir, "curator"),
        "DISTILABEL_CACHE_DIR": os.path.join(cache_dir, "distilabel"),
        "HF_HOME": os.path.join(cache_dir, "hf"),
        "HF_DATASETS_CACHE": os.path.join(cache_dir, "hf", "datasets"),
        "MPLCONFIGDIR": os.path.join(cache_dir, "matplotlib"),
        # data-designer writes default model/provider YAML files under ~/.data-designer.
        "DATA_DESIGNER_HOME": os.path.join(cache_dir, "data-designer-home"),
    }
    os.environ.update(fixed)
    # stderr is no terminal, so rich would wrap the libraries' log lines at 80 columns.
    os.environ.setdefault("COLUMNS", "200")
    # tiktoken (Curator's and data-designer's token counts) downloads cl100k_base on first use;
    # setup_venv.sh puts the file under the name tiktoken looks for.
    tiktoken_dir = os.path.join(args.venv, "tiktoken-cache")
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", tiktoken_dir)
    return {k: os.environ[k] for k in (*fixed, "TIKTOKEN_CACHE_DIR")}


def library_versions(names):
    from importlib import metadata

    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            pass
    return out


def main(argv):
    args = parse_args(argv)
    ensure_venv(args)

    own_cache = args.cache_dir is None
    cache_dir = tempfile.mkdtemp(prefix=f"synthq-peer-{args.peer}-") if own_cache else os.path.abspath(args.cache_dir)
    os.makedirs(cache_dir, exist_ok=True)
    env = set_environment(args, cache_dir)

    # The libraries print banners and progress to stdout (rich consoles, subprocesses); the
    # summary must be the last line there, so until then fd 1 points at stderr.
    sys.stdout.flush()
    real_stdout = os.dup(1)
    os.dup2(2, 1)

    sys.path.insert(0, HERE)
    from peer_common import Work, is_complete, log, output_row

    try:
        work = Work(args.work, args.limit)
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"run_peer: cannot read the work in {args.work}: {e}")
    if not work.docs:
        sys.exit(f"run_peer: no documents in {args.work}")
    log(f"{args.peer} {args.setting}: {len(work.docs)} documents, server {args.base_url}, caches in {cache_dir}")

    t_import = time.perf_counter()
    if args.peer == "distilabel":
        import peer_distilabel as peer
    elif args.peer == "curator":
        import peer_curator as peer
    else:
        import peer_data_designer as peer
    log(f"imported {args.peer} in {time.perf_counter() - t_import:.1f} s")

    try:
        result = peer.run(work, args, cache_dir)
    finally:
        if own_cache:
            shutil.rmtree(cache_dir, ignore_errors=True)

    # One line per input document, in input order; documents the library lost are null rows.
    rows = [result["rows"].get(d["id"]) or output_row(d["id"], work.criteria) for d in work.docs]
    complete = sum(1 for r in rows if is_complete(r, work.criteria))
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")

    elapsed = result["elapsed_s"]
    summary = {
        "peer": args.peer,
        "setting": args.setting,
        "settings": result["settings"],
        "documents": len(work.docs),
        "complete": complete,
        "lost": len(work.docs) - complete,
        "elapsed_s": elapsed,
        "docs_per_s": round(len(work.docs) / elapsed, 3) if elapsed > 0 else None,
        "peer_version": result["peer_version"],
        "versions": library_versions(
            ["distilabel", "bespokelabs-curator", "data-designer", "openai", "litellm", "httpx", "aiohttp", "tiktoken", "pandas"]
        ),
        "timing": result.get("timing", {}),
        "extra_requests": result.get("extra_requests", {}),
        "environment": env,
    }
    log(f"{complete}/{len(work.docs)} complete, {summary['lost']} lost, {elapsed} s → {args.out}")
    sys.stdout.flush()
    os.dup2(real_stdout, 1)
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
