"""Pure logic of the commands: suggestions for misspelled names."""

from __future__ import annotations

from swarmlab.commands.validate import did_you_mean


def test_a_typo_gets_the_close_name() -> None:
    assert did_you_mean("hellowrld", ["helloworld", "redis"]) == "helloworld"
    assert did_you_mean("wroker1", ["manager1", "worker1", "worker2"]) == "worker1"


def test_another_number_or_another_word_is_no_typo() -> None:
    assert did_you_mean("worker9", ["manager1", "worker1", "worker2"]) is None
    assert did_you_mean("nope", ["helloworld"]) is None
    assert did_you_mean("x", []) is None


def test_a_command_on_a_machine_is_shown_as_a_person_types_it() -> None:
    from swarmlab.lab import as_typed

    assert as_typed("docker node ls") == "docker node ls"
    assert as_typed("docker ps --format '{{.Names}}'") == "\"docker ps --format '{{.Names}}'\""
    assert as_typed('echo "$HOME"') == "'echo \"$HOME\"'"
