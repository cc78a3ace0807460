"""`wakeword serve`: a Wyoming wake-word service for Home Assistant and its satellites."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from .detect import add_detector_options, detector_config

DEFAULT_URI = "tcp://0.0.0.0:10400"

EPILOG = f"""examples:
  wakeword serve                                    # bundled "activate" model on {DEFAULT_URI}
  wakeword serve --model runs/hey_jarvis/model.npz --model build/enrol/model.npz --zeroconf
  wakeword serve --uri unix:///run/user/1000/wakeword.sock
  wakeword install-service --serve && systemctl --user enable --now wakeword-serve

Home Assistant: Settings > Devices & services > Add integration > Wyoming Protocol,
host = this machine's address, port = 10400 (with --zeroconf it is discovered by
itself); then Settings > Voice assistants > your assistant > its menu > Add streaming
wake word: pick wakeword and the phrase. Each model is listed under its phrase, with the id that `detect` and
`detection` use ('hey jarvis' -> hey_jarvis); two models of one phrase are refused.

protocol: describe -> info (one wake program, every model); detect [names] ->
audio-start, audio-chunk... (any rate 8-384 kHz, 1-4 byte samples, 1-32 channels) ->
one detection (name, timestamp in ms of the client's audio time) per utterance, with
the same smoothing, patience and refractory time as `listen`; not-detected at
audio-stop when nothing fired. A client's mistake (malformed or unknown event, audio
it cannot convert, silence beyond --idle-timeout) ends that connection only, with one
log line and an error event.

Logs go to stderr. Under systemd (Type=notify) it reports READY once the socket
listens and WATCHDOG while the event loop turns; SIGTERM/SIGINT stop it.
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve wake-word detection to Home Assistant over the Wyoming protocol",
        description=(
            "Run a Wyoming wake-word service: Home Assistant's voice pipeline (or a Wyoming satellite) "
            "streams audio to it and is told when a phrase is heard. The models are loaded once and "
            "shared; every connection gets its own detector state."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--uri", default=DEFAULT_URI, help=f"where to listen: tcp://HOST:PORT, unix://PATH or stdio:// (default {DEFAULT_URI})")
    p.add_argument("--model", dest="models", action="append", metavar="FILE", help="model file; repeat for several phrases (default: the bundled 'activate' model)")
    add_detector_options(p)
    p.add_argument("--idle-timeout", type=float, default=60.0, metavar="SECONDS",
                   help="close a connection that sends nothing for this long; 0: never (default 60)")
    p.add_argument("--zeroconf", nargs="?", const="wakeword", metavar="NAME",
                   help="advertise the service on the local network (mDNS, _wyoming._tcp) for Home Assistant's "
                        "discovery, as NAME (default 'wakeword'); without it nothing is broadcast")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..modelfile import load_models
    from ..streaming import use_one_thread
    from ..wyoming_server import ServeConfig, WakeService, parse_uri
    from .listen import setup_logging

    scheme, _, _ = parse_uri(args.uri)
    if args.zeroconf is not None and scheme != "tcp":
        raise ConfigError(f"--zeroconf advertises a TCP port; {args.uri} is not tcp://HOST:PORT")
    if not args.idle_timeout >= 0:
        raise ConfigError(f"--idle-timeout must be 0 or more seconds, got {args.idle_timeout}")
    use_one_thread()
    setup_logging()
    models = load_models(args.models)
    config = ServeConfig(
        uri=args.uri, detector=detector_config(args, models[0].config.detector),
        idle_timeout_s=args.idle_timeout, zeroconf_name=args.zeroconf,
    )
    code = asyncio.run(_serve(WakeService(models, config)))
    # As `listen`: everything is closed and flushed, and unloading torch would only delay a stop.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


async def _serve(service) -> int:
    from ..notify import Notifier
    from ..wyoming_server import log, serve, watchdog

    notifier = Notifier()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    pinging: list[asyncio.Task] = []

    def listening(address: str) -> None:
        models = ", ".join(f"{s.name} ({s.loaded.path}, threshold {service.thresholds[s.name]:.3f})" for s in service.models.values())
        log.info("serving %s on %s", models, address)
        notifier.ready(f"serving on {address}")
        if notifier.enabled:
            pinging.append(asyncio.create_task(watchdog(notifier, service)))

    try:
        await serve(service, stop, listening)
    finally:
        notifier.stopping()
        for task in pinging:
            task.cancel()
        notifier.close()
        service.executor.shutdown(wait=False, cancel_futures=True)
    return 0
