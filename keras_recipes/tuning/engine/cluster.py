"""keras-tuner's chief/worker mode: the role from the environment and the chief's server loop.

keras-tuner reads three variables: `KERASTUNER_TUNER_ID` ("chief" for the process that
holds the oracle, any other id for a worker), `KERASTUNER_ORACLE_IP` and
`KERASTUNER_ORACLE_PORT`. When only the port and the id are set, the address defaults to
127.0.0.1 here, so a chief is reachable from the same machine only.

Security: keras-tuner's oracle service is plain, unauthenticated gRPC. Anyone who can
reach the port can read the trials and report made-up results. Bind a loopback address,
or a private network you trust; a warning is printed for any other address.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import time
from collections.abc import Callable

from keras_recipes.errors import ConfigError

ENV_ID = "KERASTUNER_TUNER_ID"
ENV_IP = "KERASTUNER_ORACLE_IP"
ENV_PORT = "KERASTUNER_ORACLE_PORT"
DEFAULT_IP = "127.0.0.1"


def role(environ: dict[str, str] | None = None) -> str:
    """The role, "single", "chief" or "worker", as keras-tuner reads its variables.

    Example:

    >>> role({}), role({"KERASTUNER_TUNER_ID": "tuner0", "KERASTUNER_ORACLE_IP": "::1"})
    ('single', 'worker')
    """
    env = os.environ if environ is None else environ
    if ENV_IP not in env:
        return "single"
    return "chief" if "chief" in env.get(ENV_ID, "") else "worker"


def prepare_environment(environ: dict[str, str] | None = None) -> str:
    """Checks keras-tuner's variables, fills in the default address and returns the role.

    Sets `KERASTUNER_ORACLE_IP=127.0.0.1` when the id and port are set without an address,
    checks the port, and warns when the address is not a loopback one.

    Example:

    >>> env = {"KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_PORT": "8000"}
    >>> prepare_environment(env), env["KERASTUNER_ORACLE_IP"]
    ('chief', '127.0.0.1')
    >>> prepare_environment({})
    'single'
    """
    env = os.environ if environ is None else environ
    tuner_id = env.get(ENV_ID)
    port = env.get(ENV_PORT)
    ip = env.get(ENV_IP)
    if ip is None and not (tuner_id and port):
        return "single"
    if ip is None:
        env[ENV_IP] = ip = DEFAULT_IP
    if not port:
        raise ConfigError(f"{ENV_IP}={ip} is set but {ENV_PORT} is not; set the oracle's port.")
    if not tuner_id:
        raise ConfigError(
            f"{ENV_IP}={ip} is set but {ENV_ID} is not; use {ENV_ID}=chief for the oracle "
            "process and a distinct id (tuner0, tuner1, ...) for each worker."
        )
    try:
        port_number = int(port)
    except ValueError:
        port_number = -1
    if not 0 < port_number < 65536:
        raise ConfigError(f"{ENV_PORT} must be a port number in 1..65535; got {port!r}.")
    kind = role(env)
    if not is_loopback(ip):
        what = "binds" if kind == "chief" else "talks to"
        print(
            f"warning: the {kind} {what} {ip}:{port}, which is not a loopback address. "
            "keras-tuner's oracle service is unauthenticated and unencrypted gRPC: anyone "
            "who can reach this port can read the trials and report false results. Use "
            "127.0.0.1, or a private network you trust.",
            file=sys.stderr,
            flush=True,
        )
    return kind


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost".

    Example:

    >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0"), is_loopback("localhost")
    (True, False, True)
    """
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve_oracle(
    oracle,
    on_poll: Callable[[], None] | None = None,
    poll_seconds: float = 0.2,
    trial_timeout: float | None = None,
) -> None:
    """Serves `oracle` to the workers until every trial has ended and every worker has left.

    The same service as keras-tuner's `oracle_chief.start_server` (its servicer is reused);
    the loop differs: it polls every `poll_seconds` instead of sleeping 20 s once the
    trials run out, fails loudly when the port cannot be bound, and calls `on_poll` so the
    chief can print and save results as they arrive. Trials are handed out and results
    taken through `faults.WorkerWatch`: a late result never records a trial twice, and with
    `trial_timeout` (seconds) the trial of a worker presumed dead goes to another worker.
    """
    # Imported here, as keras-tuner does, so single-process runs never load gRPC/protobuf.
    from concurrent import futures

    import grpc

    from keras_recipes import _compat
    from keras_recipes.tuning.engine.faults import WorkerWatch, make_servicer

    watch = WorkerWatch(oracle, trial_timeout)
    address = f"{os.environ[ENV_IP]}:{os.environ[ENV_PORT]}"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = make_servicer(oracle, watch)
    _compat.keras_tuner_protos().get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as err:
        raise ConfigError(f"The chief cannot listen on {address}: {err}") from None
    if not bound:
        raise ConfigError(f"The chief cannot listen on {address} (in use or not local).")
    server.start()
    try:
        while True:
            time.sleep(poll_seconds)
            watch.expire()
            if on_poll is not None:
                on_poll()
            if servicer.stop_triggered and _compat.oracle_chief().exit_chief(oracle):
                break
    finally:
        server.stop(grace=1.0)
    if watch.error is not None:
        # keras-tuner stopped the search (consecutive failed trials); the workers have left.
        raise watch.error
