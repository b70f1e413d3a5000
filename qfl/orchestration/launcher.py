"""`qflchain launch`: a whole federation on this machine in one command, each node on its own private file.

It starts its own anvil (chain state kept in RUN/anvil-state.json), deploys with `qflchain deploy`, starts
one `qflchain node --data DIR/client-<i>.<npz|csv>` process per client, each with its own state directory
and log, waits for them all, prints one `qflchain history` line per round and stops anvil. Each node gets
the path of its own file and no other: nothing is pooled, nothing is shared but the chain and the store.
Run it again with the same --out after a stop and it carries on (same chain, same federation, the nodes
resume from their state).
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from qfl.chain.toolchain import PROJECT_ROOT
from qfl.orchestration import multiproc

DATA_SUFFIXES = (".npz", ".csv")
ANVIL_ACCOUNTS = 20  # multiproc.Anvil starts anvil with --accounts 20


class LaunchError(RuntimeError):
    """Why the launch cannot start or did not finish; the message is one line."""


@dataclass
class LaunchResult:
    out: Path
    codes: dict[int, int]
    argv: dict[int, list[str]]  # each node's command line (its own --data file only)
    logs: dict[int, Path]
    summary: list[str] = field(default_factory=list)  # `qflchain history`, one line per round


def client_files(data_dir: Path, n: int) -> dict[int, Path]:
    """client-<i>.npz (or .csv) in `data_dir` for every client; a LaunchError naming the first missing one."""
    files = {}
    for i in range(n):
        found = [data_dir / f"client-{i}{suffix}" for suffix in DATA_SUFFIXES]
        found = [p for p in found if p.is_file()]
        if not found:
            raise LaunchError(
                f"no data file for client {i}: expected {data_dir / f'client-{i}.npz'} (or .csv); give each "
                "client its own file, or pass --split-from-config to write them from the config's dataset"
            )
        files[i] = found[0].absolute()
    return files


def run_config(config: Path, out: Path, nodes: int | None) -> tuple[Path, int]:
    """The config the run uses (a copy in RUN/config.yaml with n_clients = `nodes` when given) and its
    client count, validated."""
    from qfl.orchestration.config import ConfigError, load_config

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        raise LaunchError(str(exc)) from None
    if nodes is None or nodes == cfg.n_clients:
        return config.absolute(), cfg.n_clients
    raw = yaml.safe_load(config.read_text())
    raw["n_clients"] = nodes
    copy = out / "config.yaml"
    copy.write_text(yaml.safe_dump(raw, sort_keys=False))
    try:
        load_config(copy)
    except ConfigError as exc:
        raise LaunchError(f"--nodes {nodes}: {exc}") from None
    return copy.absolute(), nodes


def _qflchain(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        multiproc.qflchain(*args), cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def _stop(processes: dict[int, subprocess.Popen], grace: float = 10.0) -> None:
    """SIGTERM every node still running (they stop between steps), SIGKILL what has not exited in `grace`."""
    for proc in processes.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in processes.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _raise_interrupt(signum, frame):  # Ctrl-C or SIGTERM to the launcher
    raise KeyboardInterrupt


def launch(
    config: Path,
    data_dir: Path,
    out: Path,
    nodes: int | None = None,
    split_from_config: bool = False,
    timeout: float = 3600.0,
    echo: Callable[[str], None] = print,
    optimism: bool = False,
) -> LaunchResult:
    """Play the federation of `config` with one process per client on DATA_DIR/client-<i> files (see the
    module doc). Raises LaunchError (one line) when it cannot start or a node fails, KeyboardInterrupt after
    stopping the nodes and anvil on Ctrl-C/SIGTERM."""
    out = Path(out).absolute()
    data_dir = Path(data_dir).absolute()
    out.mkdir(parents=True, exist_ok=True)
    config_path, n = run_config(Path(config), out, nodes)
    if n > ANVIL_ACCOUNTS - 1:  # test:0 deploys, node i signs as test:i+1
        raise LaunchError(f"{n} nodes: the launcher's anvil has accounts for at most {ANVIL_ACCOUNTS - 1}")
    if split_from_config:
        from qfl.orchestration.config import load_config
        from qfl.orchestration.private_data import write_client_files

        written = write_client_files(load_config(config_path), data_dir)
        echo(f"wrote {len(written)} private data files from the config's dataset to {data_dir}")
    files = client_files(data_dir, n)
    deployment = out / "deployment.json"
    store = str(out / "store")
    logs_dir = out / "logs"
    logs_dir.mkdir(exist_ok=True)
    logs = {i: logs_dir / f"client-{i}.log" for i in range(n)}
    processes: dict[int, subprocess.Popen] = {}
    anvil = multiproc.Anvil(state_path=out / "anvil-state.json", optimism=optimism)
    # Ctrl-C (even where the shell started us with SIGINT ignored) and SIGTERM: stop everything, then raise.
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        anvil.start()
        echo(f"anvil at {anvil.url} (chain state in {anvil.state_path})")
        if deployment.is_file():
            echo(f"resuming the federation recorded in {deployment}")
        else:
            done = _qflchain(
                "deploy", "--config", str(config_path), "--network", anvil.url, "--store", store,
                "--out", str(deployment), timeout=600,
            )  # fmt: skip
            if done.returncode:
                raise LaunchError(f"deploy failed: {_last_line(done.stderr or done.stdout)}")
            echo(_last_line(done.stdout))
        for i in range(n):
            processes[i] = multiproc.spawn_node(
                config_path, anvil.url, deployment, i, store, out / "nodes", logs[i], data=files[i]
            )
        echo(f"{n} nodes running, each on its own file in {data_dir}; logs in {logs_dir}")
        try:
            codes = multiproc.wait_all(processes, timeout)
        except TimeoutError as exc:
            raise LaunchError(f"{exc}; logs in {logs_dir}") from None
        echo(f"logs: {logs_dir}/client-<i>.log")
        history = _qflchain(
            "history", "--network", anvil.url, "--deployment", str(deployment), "--fees", timeout=300
        )
        summary = history.stdout.strip().splitlines() if history.returncode == 0 else []
        for line in summary or [f"(no history: {_last_line(history.stderr)})"]:
            echo(line)
        failed = {i: c for i, c in codes.items() if c}
        if failed:
            raise LaunchError(
                "nodes failed: "
                + ", ".join(
                    f"client {i} exit {c} ({_last_line(logs[i].read_text())})" for i, c in failed.items()
                )
            )
        return LaunchResult(out, codes, {i: list(p.args) for i, p in processes.items()}, logs, summary)
    except KeyboardInterrupt:
        for sig in previous:  # a second Ctrl-C must not cut the clean-up short
            signal.signal(sig, signal.SIG_IGN)
        raise
    finally:
        try:
            _stop(processes)
            anvil.stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
