"""Test plugin: fails attempts up to ``until`` with ``message`` as the error, then returns a briefing."""


def run(settings, context):
    if context.attempt <= int(settings.get("until", 1)):
        raise ValueError(str(settings.get("message", "the first attempt fails")))
    return {"summary": f"completed on attempt {context.attempt}", "sections": []}
