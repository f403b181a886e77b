"""Test plugin: an async function returning Markdown (stored as a briefing)."""

import asyncio


async def run(settings, context):
    await asyncio.sleep(0.01)
    context.step("drafted")
    return (
        "# Morning briefing\n\n"
        f"Two things happened for {settings.get('who', 'you')}.\n\n"
        "## First\n\nThe first thing.\n\n"
        "## Second\n\nThe second thing.\nWith two lines.\n"
    )
