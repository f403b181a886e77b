"""Test plugin: writes its secrets into steps, prints, tracebacks, the error or the output.

The run's secret ``API_TOKEN`` and the environment's ``LEAKY_SERVICE_TOKEN`` (passed by the
manifest's ``env``) go everywhere; ``LEAKY_REGION`` is passed too but its name does not look
secret. ``output: true`` returns them instead of raising.
"""

import os
import subprocess
import sys


def run(settings, context):
    secret = context.secrets.get("API_TOKEN", "")
    env_secret = os.environ.get("LEAKY_SERVICE_TOKEN", "")
    region = os.environ.get("LEAKY_REGION", "")
    context.step(f"call-{secret}", f"calling https://api.example.com/?token={env_secret} with {secret}")
    print(f"debug: token {secret} env {env_secret} region {region}")
    print(f"stderr: {secret}", file=sys.stderr)
    subprocess.run(["echo", f"grandchild says {env_secret}"], check=True)
    if settings.get("output"):
        return {"note": f"made with {secret}", "env": env_secret, "region": region, secret: "as a key"}
    raise RuntimeError(
        f"GET https://user:{secret}@api.example.com/v1?api_key={env_secret}&q=1 failed for {secret}; "
        "also tried https://bob:hunter2hunter@mirror.example.com/x?token=abcdefgh&page=2"
    )
