"""`cio-doctor incident P1|P2|P3|P4`: run a priority's runbook as a sequence of checks.

Each runbook is a list of steps (the toolkit's own checks); steps run concurrently, every
check keeps its timestamps, and the result is one report, written as Markdown and JSON for
the incident channel and the post-mortem.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cio_shared.webhooks import DEFAULT_MAX_AGE_SECONDS

from cio_doctor.cio_http import Trace
from cio_doctor.config import Settings
from cio_doctor.findings import CannotCheck, Check, Report, now_iso


@dataclass(frozen=True)
class Inputs:
    settings: Settings
    user: str | None = None
    campaign: int | None = None
    capture: str | None = None
    ca_file: str | None = None
    status_url: str | None = None
    observed_rps: float | None = None
    wait: float = 2.0
    budget: int | None = None
    trace: Trace | None = None


Step = tuple[str, Callable[[Inputs], Report]]


def _network(i: Inputs) -> Report:
    from cio_doctor.network_report import network_report

    return network_report(i.settings, 5, i.ca_file, i.status_url, i.observed_rps, i.budget)


def _probe(i: Inputs) -> Report:
    from cio_doctor import api

    return api.probe(i.settings, i.trace)


def _needs_env(i: Inputs, what: str) -> Any:
    if i.settings.env is None:
        raise CannotCheck(f"{what} needs --env")
    return i.settings.env


def _decisions(i: Inputs) -> Report:
    from cio_doctor import rates

    env = _needs_env(i, "the handler error rate")
    return rates.error_rate_report(env, i.settings.timeout)


def _dlq(purposes: list[str] | None = None) -> Callable[[Inputs], Report]:
    def step(i: Inputs) -> Report:
        from cio_doctor import dlq

        env = _needs_env(i, "the dead-letter check")
        target = dlq.target_for(env, wait=i.wait)
        return dlq.list_report(target, dlq.subscriptions(target, env, purposes or []), 500)

    return step


def _secrets(i: Inputs) -> Report:
    from cio_doctor import secrets

    return secrets.rotation_report(_needs_env(i, "the secret check"), secrets.CloudRunServices())


def _user(i: Inputs) -> Report:
    from cio_doctor import user
    from cio_doctor.cio_http import app_client

    if not i.user:
        raise CannotCheck("pass --user ID|EMAIL of an affected person")
    return user.diagnose(app_client(i.settings, i.trace), i.user)


def _campaign(i: Inputs) -> Report:
    from cio_doctor import campaign
    from cio_doctor.cio_http import app_client

    if not i.campaign:
        raise CannotCheck("pass --campaign ID of the affected campaign")
    return campaign.diagnose(app_client(i.settings, i.trace), i.campaign)


def _webhook(i: Inputs) -> Report:
    from cio_doctor import capture, webhook

    if not i.capture:
        raise CannotCheck("pass --capture FILE (a raw request the handler rejected)")
    keys = webhook.signing_keys(i.settings, None)
    return webhook.verify_report(capture.load(i.capture, None, None), keys, DEFAULT_MAX_AGE_SECONDS)


@dataclass(frozen=True)
class Runbook:
    title: str
    meaning: str
    steps: tuple[Step, ...]
    next_steps: tuple[str, ...]


RUNBOOKS: dict[str, Runbook] = {
    "P1": Runbook(
        "P1: complete outage",
        "Nothing reaches Customer.io (or nothing comes back).",
        (
            ("network", _network),
            ("credentials", _probe),
            ("dead letters", _dlq()),
            ("secret versions", _secrets),
        ),
        (
            "Open an incident channel and page the platform owner.",
            "If Customer.io's status page shows an incident, wait it out: handlers retry with "
            "backoff and dead-letter after max attempts; then `cio-doctor dlq replay {env} "
            "--dry-run`.",
            "If credentials are rejected (401), add the right key as a new secret version and roll "
            "the handlers (README: Rotating a secret); handlers retry 401s, so what exhausted its "
            "attempts meanwhile is replayed with `cio-doctor dlq replay {env} --reason "
            "max_delivery_attempts`.",
            "If our egress fails (DNS/TCP/TLS), check the VPC connector/NAT and recent network "
            "changes.",
        ),
    ),
    "P2": Runbook(
        "P2: error rate high",
        "Many deliveries fail or retry; some events are delayed.",
        (
            ("error rate", _decisions),
            ("network", _network),
            ("credentials", _probe),
            ("dead letters", _dlq()),
        ),
        (
            "Read the dead-letter reasons: max_delivery_attempts means retries ran out (429: over "
            "budget, lower customerio.request_budget_per_second or stop a backfill; 5xx or "
            "timeouts: Customer.io; 401: the key); rejected_4xx, too_large or schema_invalid "
            "mean a producer sends bad payloads.",
            "Replay retryable dead letters once the error rate is back to normal "
            "(`cio-doctor dlq replay {env} --dry-run`).",
        ),
    ),
    "P3": Runbook(
        "P3: delivery problems",
        "Events arrive, but people do not get messages.",
        (
            ("person", _user),
            ("campaign", _campaign),
            ("network", _network),
            ("dead letters", _dlq()),
        ),
        (
            "Fix the person-level findings first (suppression, unsubscribed, missing email).",
            "For campaign findings (paused, draft actions, empty audience), involve the campaign's "
            "owner in Customer.io.",
        ),
    ),
    "P4": Runbook(
        "P4: webhook failures",
        "Reporting webhooks are rejected, late, or quarantined.",
        (
            ("signature", _webhook),
            ("quarantine", _dlq(["webhook-quarantine"])),
            ("secret versions", _secrets),
        ),
        (
            "Customer.io backlogs every later webhook while one fails, for up to 7 days: fix the "
            "rejection first (usually the signing key), the backlog then drains by itself.",
            "Replay quarantined events after a fix with `cio-doctor webhook replay --quarantine "
            "{env} --url HANDLER_URL`.",
        ),
    ),
}


def _run_step(name: str, step: Callable[[Inputs], Report], inputs: Inputs) -> list[Check]:
    started = now_iso()
    try:
        report = step(inputs)
    except CannotCheck as exc:
        check = Check(f"{name}", started_at=started, finished_at=now_iso())
        check.fail(str(exc))
        return [check]
    for check in report.checks:
        check.name = name if check.name == name else f"{name}: {check.name}"
    return report.checks


def run(priority: str, inputs: Inputs) -> Report:
    runbook = RUNBOOKS[priority]
    report = Report("incident", runbook.title)
    env = inputs.settings.env
    selector = f"--env {env.name}" if env is not None else "--env ENV"
    report.extra = {
        "priority": priority,
        "meaning": runbook.meaning,
        "runbook_next_steps": [s.replace("{env}", selector) for s in runbook.next_steps],
    }
    with ThreadPoolExecutor(max_workers=len(runbook.steps)) as pool:
        futures = [pool.submit(_run_step, name, step, inputs) for name, step in runbook.steps]
        for future in futures:
            report.checks.extend(future.result())
    _merge_rejected_credentials(report.checks)
    return report


def _merge_rejected_credentials(checks: list[Check]) -> None:
    """One finding per rejected key: when the credentials probe got 401 from an API, the
    network check's `<api>_credentials_rejected` for the same API says the same thing (its
    authenticated probes got the same 401), so it is folded into the probe's finding."""
    rejected: set[str] = set()
    for check in checks:
        if check.name.startswith("credentials: ") and any(
            f.code == "http_401" for f in check.findings
        ):
            rejected.add(check.name.removeprefix("credentials: ").split(" ", 1)[0])
    for check in checks:
        if not check.name.startswith("network: "):
            continue
        folded = [
            f
            for f in check.findings
            if f.code.endswith("_credentials_rejected")
            and f.code.removesuffix("_credentials_rejected") in rejected
        ]
        if folded:
            check.findings = [f for f in check.findings if f not in folded]
            check.data["credentials_rejected"] = "401, reported once under credentials"
    for check in checks:
        api = check.name.removeprefix("credentials: ").split(" ", 1)[0]
        if check.name.startswith("credentials: ") and api in rejected:
            check.findings = [
                replace(f, detail=f"{f.detail} (the network probes got 401 too)".strip())
                if f.code == "http_401"
                else f
                for f in check.findings
            ]


def to_markdown(priority: str, report: Report) -> str:
    data = report.to_dict()
    lines = [
        f"# Incident report: {data['target']}",
        "",
        f"- priority: **{priority}** ({data['meaning']})",
        f"- started: {data['started_at']}",
        f"- finished: {data['finished_at']}",
        f"- status: **{data['status']}** (exit code {data['exit_code']})",
        "",
        "## Checks",
        "",
        "| check | result | started | duration |",
        "|---|---|---|---|",
    ]
    for check in data["checks"]:
        result = f"could not check: {check['error']}" if check["error"] else check["status"]
        lines.append(
            f"| {check['name']} | {_cell(result)} | {check['started_at']} | "
            f"{check['duration_ms']:.0f} ms |"
        )
    lines += ["", "## Findings (most severe first)", ""]
    if not data["findings"]:
        from cio_doctor.output import no_findings_line

        lines.append(no_findings_line([c["name"] for c in data["checks"] if c["error"]]))
    for f in data["findings"]:
        lines.append(f"- **{f['severity']}** {f['title']} (`{f['code']}`)")
        if f["detail"]:
            lines.append(f"  - {f['detail']}")
        if f["next_step"]:
            lines.append(f"  - next: {f['next_step']}")
    lines += ["", "## Next steps", ""] + [f"1. {s}" for s in data["runbook_next_steps"]]
    lines += ["", "## Details", ""]
    for check in data["checks"]:
        if check["data"]:
            lines += [
                f"### {check['name']}",
                "",
                "```json",
                json.dumps(check["data"], indent=2, default=str)[:4000],
                "```",
                "",
            ]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write(priority: str, report: Report, out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = report.started_at.replace(":", "").replace("-", "").split(".")[0]
    base = out_dir / f"incident-{priority}-{stamp}"
    md, js = base.with_suffix(".md"), base.with_suffix(".json")
    md.write_text(to_markdown(priority, report), encoding="utf-8")
    js.write_text(json.dumps(report.to_dict(), indent=2, default=str), encoding="utf-8")
    return md, js
