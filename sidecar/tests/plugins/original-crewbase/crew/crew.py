"""A test fixture in the original system's phase-09 crew format.

An idiomatic CrewAI project (the layout ``crewai create crew`` generates): a ``@CrewBase`` class
whose agents and tasks come from ``config/agents.yaml`` and ``config/tasks.yaml``, and the
original's factory ``create_crew(settings)``, which receives no credentials.
"""
from pathlib import Path

from crewai import Agent, Crew, Process, Task
from crewai.project import CrewBase, agent, crew, task


@CrewBase
class MorningDigestCrew:
    """Scout, then editor."""

    agents_config = str(Path(__file__).parent / "config" / "agents.yaml")
    tasks_config = "config/tasks.yaml"

    @agent
    def scout(self) -> Agent:
        return Agent(config=self.agents_config["scout"], verbose=False)

    @agent
    def editor(self) -> Agent:
        return Agent(config=self.agents_config["editor"], verbose=False)

    @task
    def gather_task(self) -> Task:
        return Task(config=self.tasks_config["gather_task"])

    @task
    def digest_task(self) -> Task:
        return Task(config=self.tasks_config["digest_task"])

    @crew
    def crew(self) -> Crew:
        return Crew(agents=self.agents, tasks=self.tasks, process=Process.sequential, verbose=False)


def create_crew(settings: dict) -> Crew:
    """The original system's factory: settings only."""
    return MorningDigestCrew().crew()
