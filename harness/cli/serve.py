"""`thinkbench serve CHECKPOINT`: a checkpoint behind an OpenAI-compatible API (the `hf` backend)."""
from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path

from harness.registry import ConfigError, load_plugins


def main(args: argparse.Namespace) -> int:
    from harness.backends.hf import HFConfig
    from harness.checkpoint import resolve_checkpoint
    from harness.serve import ServeConfig, serve

    load_plugins()  # `testbed` aliases resolve through the testbed trainer's home
    path = resolve_checkpoint(args.checkpoint)
    key = None
    if args.api_key_env:
        key = os.environ.get(args.api_key_env)
        if not key:
            raise ConfigError(f"--api-key-env: environment variable {args.api_key_env} is not set")
    template = None
    if args.chat_template:
        try:
            template = args.chat_template.read_text()
        except OSError as e:
            raise ConfigError(f"--chat-template: cannot read {args.chat_template} ({e.strerror})") from None
    if not 0 <= args.port < 65536:
        raise ConfigError(f"--port: expected 0..65535, got {args.port}")
    if args.batch_window_ms < 0:
        raise ConfigError(f"--batch-window-ms: expected >= 0, got {args.batch_window_ms}")
    try:
        loopback = ipaddress.ip_address(args.host).is_loopback
    except ValueError:
        loopback = args.host == "localhost"
    if not loopback:
        print(f"thinkbench serve: warning: listening on {args.host}: anyone who can reach port {args.port} "
              f"can use the model{'' if key else ' (no --api-key-env set)'}", file=sys.stderr)
    cfg = ServeConfig(host=args.host, port=args.port, model_name=args.served_model_name or args.checkpoint,
                      api_key=key, batch_window_ms=args.batch_window_ms, chat_template=template)
    hf = HFConfig(device=args.device, threads=args.threads, batch_size=args.batch_size)
    try:
        serve(path, cfg, hf)
    except OSError as e:  # the port is taken, or the host is not this machine's
        raise ConfigError(f"cannot listen on {args.host}:{args.port} ({e.strerror or e})") from None
    except KeyboardInterrupt:
        print("thinkbench serve: stopped", file=sys.stderr)
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    sv = sub.add_parser("serve", help="serve a checkpoint over an OpenAI-compatible HTTP API (hf backend)")
    sv.add_argument("checkpoint", help="checkpoint directory or name (testbed, testbed/step-600, a hub id)")
    sv.add_argument("--port", type=int, default=8000, help="TCP port (default 8000; 0 picks a free one)")
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    sv.add_argument("--served-model-name", help="the model id clients send (default: CHECKPOINT as written)")
    sv.add_argument("--api-key-env", help="require `Authorization: Bearer $VAR` (the key read from this variable)")
    sv.add_argument("--chat-template", type=Path, help="a Jinja chat template file (replaces the tokenizer's)")
    sv.add_argument("--batch-window-ms", type=float, default=5.0,
                    help="wait this long for concurrent requests to batch together (default 5)")
    sv.add_argument("--device", help="torch device (default: cuda when present, else cpu)")
    sv.add_argument("--threads", type=int, help="torch threads (THINKBENCH_THREADS wins)")
    sv.add_argument("--batch-size", type=int, default=256, help="rows (prompts x n) decoded together (default 256)")
    sv.set_defaults(fn=main)
