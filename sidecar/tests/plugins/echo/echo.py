"""Test plugin: echoes its settings, reports steps, optionally sleeps and counts executions."""

import hashlib
import os
import time


def run(settings, context):
    if settings.get("count_file"):
        with open(settings["count_file"], "a", encoding="utf-8") as handle:
            handle.write(f"{context.run_id} {context.attempt}\n")
    for step in settings.get("steps", []):
        context.step(step, f"finished {step}")
    started = time.time()
    if settings.get("sleep"):
        time.sleep(float(settings["sleep"]))
    if settings.get("intervals_file"):
        with open(settings["intervals_file"], "a", encoding="utf-8") as handle:
            handle.write(f"{started} {time.time()}\n")
    print("echo plugin output goes to stderr, not to the protocol channel")
    values = "".join(context.secrets[name] for name in sorted(context.secrets))
    return {
        "settings": settings,
        "run_id": context.run_id,
        "attempt": context.attempt,
        "secret_names": sorted(context.secrets),
        "secret_digest": hashlib.sha256(values.encode("utf-8")).hexdigest(),
        "remaining_positive": context.remaining() > 0,
        "seal_key_visible": "FIRSTSIP_SEAL_KEY" in os.environ,
        "env_names": sorted(os.environ),
    }
