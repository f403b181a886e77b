"""A test fixture in the format of the original system's latest crews.

The factory takes ``create_crew(settings, llm=None, search_tool=None)``: the executor builds the
LLM from the run's credentials and model and picks the search tool, and the crew hands them to
its agents. The crew is built in code, without YAML config.
"""
from crewai import Agent, Crew, Process, Task


def create_crew(settings: dict, llm=None, search_tool=None) -> Crew:
    tools = [search_tool] if search_tool else []
    analyst = Agent(
        role="Evening analyst for {topics}",
        goal="Find what changed today in {topics}",
        backstory="You close each day by checking what actually moved in {topics}.",
        tools=tools,
        llm=llm,
        verbose=False,
    )
    writer = Agent(
        role="Evening digest writer",
        goal="Write a {summary_length} digest a reader can finish in two minutes",
        backstory="You write short, neutral evening notes.",
        llm=llm,
        verbose=False,
    )
    analysis = Task(
        description="List the day's three most important changes in {topics}.",
        expected_output="Three changes, each with a source.",
        agent=analyst,
    )
    digest = Task(
        description="Write the {summary_length} evening digest from the analysis.",
        expected_output="Markdown: a summary paragraph, then '## ' sections.",
        agent=writer,
        context=[analysis],
    )
    return Crew(agents=[analyst, writer], tasks=[analysis, digest], process=Process.sequential, verbose=False)
