"""The end-to-end benchmark's no-op plugin (the Celery peer's task does the same)."""


def run(settings, context):
    return {}
