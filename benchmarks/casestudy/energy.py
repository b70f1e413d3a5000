"""The energy pillar: an explicit model, priced from the other parts' measurements and experiments/case-study/
energy.yaml's cited parameters. Nothing here is measured with a power meter; every term says its formula.

Per client and round, in joules:
- local training simulated on a CPU: measured CPU seconds (learning part) x watts per core;
- the same training on a quantum processor: circuit executions x shots x shot time x the system's power, where
  a gradient by parameter shift takes 2 executions per parameter and example plus one forward pass, and a
  shot lasts its gates' time plus the readout/reset overhead;
- the chain: the round's gas (chain part) shared out among its clients, x the network's energy per gas;
- the network: bytes up and down through the store (chain part) x the energy intensity of data transfer.
"""

from __future__ import annotations

from pathlib import Path

J_PER_KWH = 3.6e6
J_PER_MWH = 3.6e9


def _chain_inputs(chain: dict) -> tuple[int, dict, float]:
    """(clients, energy inputs, store bytes up + down per client and round) of the smallest overhead run."""
    inputs = chain["energy_inputs"]
    n = min(int(k) for k in inputs)
    return n, inputs[str(n)], float(chain_bytes_per_client(chain, n))


def chain_bytes_per_client(chain: dict, n: int) -> float:
    """Mean store bytes up + down per client and round in the chain part's overhead run with n clients."""
    for run in chain["overhead"]:
        if int(run["n_clients"]) == n:
            rounds = run["rounds"]
            up = sum(sum(r["up"]) for r in rounds) / (len(rounds) * n)
            down = sum(sum(r["down"]) for r in rounds) / (len(rounds) * n)
            return up + down
    raise KeyError(f"no overhead run with {n} clients")


def qpu_joules(cfg: dict, circuit: dict, rows: float) -> tuple[float, dict]:
    """Energy of one client's round of parameter-shift training on a QPU, and the terms behind it."""
    q = cfg["qpu"]
    n = max(1, int(circuit["measured_qubits"]))
    # one-qubit gates run in parallel across qubits; the CNOT ring is sequential
    gate_s = (
        circuit["one_qubit_gates"] / n * q["one_qubit_gate_s"]
        + circuit["two_qubit_gates"] * q["two_qubit_gate_s"]
    )
    shot_s = gate_s + q["shot_overhead_s"]
    executions = rows * circuit["parameter_shift_executions_per_gradient"]
    seconds = executions * q["shots"] * shot_s
    return seconds * q["system_watts"], {"executions": executions, "shot_s": shot_s, "qpu_seconds": seconds}


def derive(results: dict) -> dict:
    """Joules per client and round for each system, and the terms used."""
    cfg = results["config"]["energy"]
    learning, chain = results["parts"]["learning"], results["parts"]["chain"]
    e = learning["energy_inputs"]
    watts = cfg["cpu"]["watts_per_core"]
    n, chain_in, bytes_per_client = _chain_inputs(chain)
    j_per_gas = cfg["chain"]["network_mwh_per_year"] * J_PER_MWH / cfg["chain"]["gas_per_year"]
    chain_j = chain_in["gas_per_round"] / n * j_per_gas
    network_j = bytes_per_client / 1e9 * cfg["network"]["kwh_per_gb"] * J_PER_KWH
    dataset = e["dataset"]
    qpu_j, qpu_terms = qpu_joules(cfg, e["circuits"][dataset], e["rows_per_client_round"])
    node_j = chain_in["node_cpu_seconds_per_round"] / n * watts  # every node's process CPU, shared out
    train = {
        "vqc_cpu": e["vqc_cpu_s_per_client_round"] * watts,
        "vqc_noisy_cpu": e.get("vqc_noisy_cpu_s_per_client_round", 0.0) * watts,
        "classical_cpu": e["classical_cpu_s_per_client_round"] * watts,
        "vqc_qpu": qpu_j,
    }
    systems = {
        "QFLchain, VQC simulated on a CPU": train["vqc_cpu"] + node_j + chain_j + network_j,
        "QFLchain, VQC on a quantum processor": train["vqc_qpu"] + node_j + chain_j + network_j,
        "centralised QFL, VQC simulated on a CPU": train["vqc_cpu"] + network_j,
        "classical FL (small network), CPU": train["classical_cpu"] + network_j,
    }
    return {
        "dataset": dataset,
        "clients": n,
        "j_per_gas": j_per_gas,
        "chain_j": chain_j,
        "node_j": node_j,
        "node_cpu_s": chain_in["node_cpu_seconds_per_round"] / n,
        "network_j": network_j,
        "bytes_per_client": bytes_per_client,
        "gas_per_client": chain_in["gas_per_round"] / n,
        "train_j": train,
        "qpu_terms": qpu_terms,
        "systems_j": systems,
        "inputs": e,
    }


def _times(x: float) -> str:
    """A ratio to 2 significant digits, in words for large ones."""
    if x >= 1e6:
        exponent = len(str(int(x))) - 1
        return f"{x / 10**exponent:.1f} x 10^{exponent} times"
    if x >= 1e3:
        return f"{x:,.0f} times"
    return f"{x:.2g}x"


def format_joules(x: float) -> str:
    """Joules with a readable unit."""
    if x >= J_PER_KWH / 10:
        return f"{x / J_PER_KWH:,.2f} kWh"
    if x >= 3600:
        return f"{x / 3600:,.2f} Wh"
    if x >= 1:
        return f"{x:,.1f} J"
    return f"{x * 1e3:,.2f} mJ"


def render(results: dict, figures: Path) -> list[str]:
    """The energy section."""
    cfg = results["config"]["energy"]
    d = derive(results)
    e, q, t = d["inputs"], cfg["qpu"], d["train_j"]
    lines = [
        "## Energy (a model, not a meter)",
        "",
        "Per client and round, priced from this run's measurements with the parameters in"
        " `experiments/case-study/energy.yaml` (change one and `--render-only` recomputes this section):",
        "",
        "| term | formula | inputs (this run) | per client and round |",
        "|---|---|---|---:|",
        f"| VQC training, simulated on a CPU | CPU s x W/core | {e['vqc_cpu_s_per_client_round']:.4g} s x"
        f" {cfg['cpu']['watts_per_core']} W | {format_joules(t['vqc_cpu'])} |",
    ]
    if t["vqc_noisy_cpu"]:
        lines.append(
            f"| same, with depolarizing noise and finite shots (density matrices) | CPU s x W/core |"
            f" {e['vqc_noisy_cpu_s_per_client_round']:.4g} s x {cfg['cpu']['watts_per_core']} W |"
            f" {format_joules(t['vqc_noisy_cpu'])} |"
        )
    qt = d["qpu_terms"]
    lines += [
        f"| VQC training on a quantum processor | rows x (2 x params + 1) x shots x shot time x system W |"
        f" {e['rows_per_client_round']:.4g} rows x {e['circuits'][d['dataset']]['parameter_shift_executions_per_gradient']}"
        f" executions x {q['shots']} shots x {qt['shot_s'] * 1e6:.1f} µs x {q['system_watts']:,.0f} W"
        f" = {qt['qpu_seconds'] / 3600:,.2f} h of QPU time | {format_joules(t['vqc_qpu'])} |",
        f"| classical network training on a CPU | CPU s x W/core | {e['classical_cpu_s_per_client_round']:.4g} s x"
        f" {cfg['cpu']['watts_per_core']} W | {format_joules(t['classical_cpu'])} |",
        f"| node software (binding, codec, store, judging) on a CPU | CPU s x W/core | {d['node_cpu_s']:.4g} s"
        f" x {cfg['cpu']['watts_per_core']} W | {format_joules(d['node_j'])} |",
        f"| the chain's share (attributional) | gas per client x J/gas | {d['gas_per_client']:,.0f} gas x"
        f" {d['j_per_gas']:.3g} J | {format_joules(d['chain_j'])} |",
        f"| data through the store | bytes x kWh/GB | {d['bytes_per_client']:,.0f} B x {cfg['network']['kwh_per_gb']}"
        f" kWh/GB | {format_joules(d['network_j'])} |",
        "",
        f"Inputs: training on {e['dataset']} ({e['split']}, {e['clients']} clients, {e['rows_per_client_round']:.4g}"
        f" rows a client-round), CPU time from `time.process_time` over {e['repeats']} repeats; gas and bytes"
        f" from the chain part's {d['clients']}-client run.",
        "",
        "| system | per client and round |",
        "|---|---:|",
        *(f"| {name} | {format_joules(j)} |" for name, j in d["systems_j"].items()),
        "",
    ]
    sim_total = d["systems_j"]["QFLchain, VQC simulated on a CPU"]
    central = d["systems_j"]["centralised QFL, VQC simulated on a CPU"]
    qpu_share = d["chain_j"] / d["systems_j"]["QFLchain, VQC on a quantum processor"]
    lines += [
        f"Reading: with the client's 4-qubit circuit simulated on a CPU, a QFLchain client-round costs"
        f" {format_joules(sim_total)} against centralised QFL's {format_joules(central)} ({_times(sim_total / central)}),"
        f" and the chain's attributed share is {d['chain_j'] / sim_total:.1%} of it. That share is attributional"
        " (the network's yearly energy spread over its gas); a proof-of-stake chain's validators run whether or"
        " not the round's transactions exist, so the marginal energy is close to zero. Training the same circuit"
        f" on a quantum processor by parameter shift would cost {format_joules(t['vqc_qpu'])} a client-round"
        f" ({_times(t['vqc_qpu'] / max(t['vqc_cpu'], 1e-12))} the simulation, almost all of it shot overhead), and"
        f" the chain would then be {qpu_share:.1%} of the energy: at 4 qubits simulation is far cheaper than"
        " hardware, and a quantum advantage in energy needs circuits no CPU can simulate.",
        "",
        "Sources of the parameters:",
        "",
        f"- CPU: {cfg['cpu']['source']}.",
        f"- Quantum processor power: {q['source_watts']}.",
        f"- Gate times: {q['source_gates']}.",
        f"- Shot overhead: {q['source_overhead']}.",
        f"- Chain: {cfg['chain']['source']}.",
        f"- Network: {cfg['network']['source']}.",
        "",
    ]
    return lines
