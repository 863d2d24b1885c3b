"""Pure logic of the commands: suggestions for misspelled names."""

from __future__ import annotations

import pytest

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
    # single quotes inside: in double quotes with the shell's specials escaped, not '"'"'
    assert as_typed("ip -4 -o addr | awk '{print $2, $4}'") == "\"ip -4 -o addr | awk '{print \\$2, \\$4}'\""
    assert as_typed("echo 'hi!'") == "'echo '\"'\"'hi!'\"'\"''"  # a '!': only shlex's form is safe


@pytest.mark.parametrize("text", ["sh -c 'echo broken; exit 1'", "awk '{print $2}' \"a\" `b` \\c", "plain",
                                  "no quotes here", "it's", "a'b!c", ""])
def test_a_shell_word_reads_back_as_the_same_text(text: str) -> None:
    """What fmt.shell_word writes, bash reads back as the same one word."""
    import subprocess

    from swarmlab import _format as fmt

    word = fmt.shell_word(text)
    out = subprocess.run(["bash", "-c", f"printf %s {word}"], capture_output=True, text=True, check=True)
    assert out.stdout == text, word


def test_a_misspelled_machine_gets_did_you_mean_and_never_the_advice_to_make_it() -> None:
    """Every provider's "no such machine" (providers.base.no_machine)."""
    from swarmlab.providers.base import no_machine

    typo = str(no_machine("demo", "manger1", ["manager1", "worker1"]))
    assert typo == "lab 'demo' has no machine 'manger1': did you mean 'manager1'? (machines: manager1, worker1)"
    other = str(no_machine("demo", "worker3", ["manager1", "worker1"]))  # another machine, not a typo
    assert other.endswith("(machines: manager1, worker1); create it with lab.machine.create('worker3')")
    assert "adopt a host with" in str(no_machine("demo", "web1", [], make="adopt a host with"))
