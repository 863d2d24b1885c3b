"""Bad usage of the ``swarmlab`` command, read in-process: one line, exit 2, and for a
misspelled command or choice the closest one instead of the whole list."""

from __future__ import annotations

import pytest

from swarmlab.cli.main import main


@pytest.mark.parametrize(("argv", "said"), [
    (["stauts"], "argument COMMAND: invalid choice: 'stauts': did you mean 'status'?"),
    (["envv", "x", "y"], "invalid choice: 'envv': did you mean 'env'?"),
    (["status", "x", "-o", "jsn"], "argument --output/-o: invalid choice: 'jsn': did you mean 'json'?"),
])
def test_a_misspelled_command_or_choice_gets_the_closest_one(argv: list[str], said: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2 and said in err and len(err.strip().splitlines()) == 1, err
    assert "choose from" not in err  # the one that fits, not the whole list


def test_a_word_like_no_command_gets_the_list(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["zzz"])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "invalid choice: 'zzz' (choose from 'up', 'ls', 'status'" in err, err
