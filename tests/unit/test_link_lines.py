"""The lines a link carries (protocol.link_request / link_answer): what goes out comes back the same."""

import pytest

from fmirror import protocol


def test_a_request_keeps_its_words_and_any_bytes_of_input():
    words = protocol.request("rename", "--epoch", 3, "--from", "alpha")
    line = protocol.link_request(words, b"\x00\xff[]\n")
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    command, data = protocol.read_link_request(line)
    assert command == "fmirror/1 rename --epoch 3 --from alpha" and data == b"\x00\xff[]\n"
    assert protocol.read_link_request(protocol.link_request(["fmirror/1", "state"], None)) == ("fmirror/1 state", None)


def test_a_quoted_word_stays_one_word():
    command, _ = protocol.read_link_request(protocol.link_request(["fmirror/1", "state", "a b; rm -rf /"], None))
    assert command == "fmirror/1 state 'a b; rm -rf /'"


def test_an_answer_keeps_status_and_both_streams():
    line = protocol.link_answer(3, b"", b"fmirror serve: refused: x [role=slave epoch=2]\n")
    assert protocol.read_link_answer(line) == (3, b"", b"fmirror serve: refused: x [role=slave epoch=2]\n")


@pytest.mark.parametrize("line", [b"", b"{}", b"[1]", b'{"words": "state", "input": null}',
                                  b'{"words": [1], "input": null}', b'{"words": [], "input": "***"}'])
def test_anything_else_is_not_a_request(line):
    with pytest.raises(ValueError):
        protocol.read_link_request(line)


@pytest.mark.parametrize("line", [b"", b"{}", b'{"status": "x", "stdout": null, "stderr": null}'])
def test_anything_else_is_not_an_answer(line):
    with pytest.raises(ValueError):
        protocol.read_link_answer(line)
