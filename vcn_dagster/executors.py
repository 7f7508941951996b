"""The executor of the code location's jobs, picked per deployment with `VCN_EXECUTOR` (deploy/README.md).

- `multiprocess` (the default): Dagster's default executor, each step a process on the run's machine.
- `celery`: `dagster_celery`'s executor; steps go to Celery workers through the broker `VCN_CELERY_BROKER`,
  GPU stages to the `gpu` queue (their `dagster-celery/queue` tag), the others to the default `dagster` queue.
- `k8s`: `dagster_k8s`'s `k8s_job_executor`, each step a pod; GPU stages' `dagster-k8s/config` tag gives theirs a GPU.

Celery and Kubernetes clients are imported only when chosen, so `vcn` and `dagster dev` on one machine do not pay for
them.
"""

from __future__ import annotations

import os

import dagster as dg

EXECUTORS = ("multiprocess", "celery", "k8s")
DEFAULT_BROKER = "redis://127.0.0.1:6379/0"


def executor_from_env() -> dg.ExecutorDefinition | None:
    """The executor `VCN_EXECUTOR` names; None for Dagster's default. Read when the Definitions load, so a
    run's step workers, loading the same code with the same environment, agree with the run."""
    name = os.environ.get("VCN_EXECUTOR") or "multiprocess"
    if name == "multiprocess":
        return None
    if name == "celery":
        from dagster_celery import celery_executor

        # By env-var reference when set, so a password in the URL stays out of the UI's view of the config.
        broker = _env_or("VCN_CELERY_BROKER", DEFAULT_BROKER)
        # Results go to the broker's Redis unless told: Celery's default `rpc://` backend is meant for AMQP brokers.
        backend = _env_or("VCN_CELERY_BACKEND", broker)
        return celery_executor.configured({"broker": broker, "backend": backend})
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    raise ValueError(f"VCN_EXECUTOR={name!r}: expected one of {', '.join(EXECUTORS)}")


def _env_or(var: str, default: str | dict[str, str]) -> str | dict[str, str]:
    """Config for a Dagster `StringSource`: a reference to `var` when it is set, else `default`."""
    return {"env": var} if os.environ.get(var) else default
