"""BagIt text formats: RFC 8493 path encoding, manifests, bag-info fields."""

from __future__ import annotations

import pytest
from opsledger.archiver import bagit_paths as bp
from opsledger.archiver.errors import BagInputError


@pytest.mark.parametrize(
    ("path", "encoded"),
    [
        ("data/plain.log", "data/plain.log"),
        ("data/50%.txt", "data/50%25.txt"),
        ("data/line\nbreak", "data/line%0Abreak"),
        ("data/cr\rlf\r\n", "data/cr%0Dlf%0D%0A"),
        ("data/%0A literally", "data/%250A literally"),
        ("data/é space.txt", "data/é space.txt"),
    ],
)
def test_rfc8493_encoding_round_trips(path, encoded):
    assert bp.encode_path(path) == encoded
    assert bp.decode_path_rfc(encoded) == path
    assert bp.path_candidates(encoded)[0] == path


def test_lowercase_hex_escapes_are_accepted():
    assert bp.decode_path_rfc("data/a%0ab%0dc%25") == "data/a\nb\rc%"


def test_a_raw_percent_is_not_rfc_but_is_the_legacy_spelling():
    # bagit-python 1.9 writes '%' raw (its issue #157): "data/50%.txt".
    assert bp.decode_path_rfc("data/50%.txt") is None
    assert bp.path_candidates("data/50%.txt") == ["data/50%.txt"]


def test_legacy_spelling_of_percent_and_newline_is_a_candidate():
    # bagit-python encodes LF but leaves '%' raw: "a%b\n" -> "a%b%0A".
    raw = "data/a%b%0A"
    assert "data/a%b\n" in bp.path_candidates(raw)


def test_ambiguous_entry_lists_rfc_reading_first():
    # "%25" is '%' for RFC 8493 writers but a literal "%25" for legacy ones.
    assert bp.path_candidates("data/x%25y") == ["data/x%y", "data/x%25y"]


def test_manifest_text_and_parse_agree():
    text = bp.manifest_text([("data/a b", "AB" * 32), ("data/c\nd", "cd" * 32)]).decode()
    assert text == f"{'AB' * 32}  data/a b\n{'cd' * 32}  data/c%0Ad\n"
    entries, problems = bp.parse_manifest(text)
    assert problems == []
    assert [(e.digest, e.raw_path) for e in entries] == [
        ("ab" * 32, "data/a b"),
        ("cd" * 32, "data/c%0Ad"),
    ]


def test_parse_manifest_reports_bad_lines_and_keeps_going():
    entries, problems = bp.parse_manifest("zz  data/a\nnodigest\n" + "ab" * 32 + " *data/b\r\n")
    assert [e.raw_path for e in entries] == ["data/b"]
    assert len(problems) == 2 and problems[0].startswith("line 1")


def test_trailing_spaces_in_manifest_paths_are_kept():
    entries, _ = bp.parse_manifest("ab" * 32 + "  data/trailing \n")
    assert entries[0].raw_path == "data/trailing "


def test_tag_file_parsing_joins_continuation_lines():
    fields, problems = bp.parse_tag_file("A: one\n  two\nB:x\nbroken line\n")
    assert fields == [("A", "one two"), ("B", "x")]
    assert problems == ["line 4: not 'Label: value': 'broken line'"]


@pytest.mark.parametrize(
    "fields",
    [
        [("Payload-Oxum", "1.1")],
        [("bagging-date", "2024-01-01")],
        [("External-Identifier", "X")],
        [("Has:colon", "v")],
        [(" Padded", "v")],
        [("Label", "two\nlines")],
        [("Label", " padded")],
        [("Label",)],
        ["not a pair"],
    ],
)
def test_bad_bag_info_fields_are_refused(fields):
    with pytest.raises(BagInputError):
        bp.check_bag_info_fields(fields)


def test_good_bag_info_fields_keep_their_order():
    fields = [("Opsledger-Ticket", "OPS-1"), ("Opsledger-Env", "prod"), ("Opsledger-Ticket", "x")]
    assert bp.check_bag_info_fields(fields) == fields


@pytest.mark.parametrize(
    "name",
    ["", "/abs", "a/../b", "./a", "a//b", "data/x", "data", "bagit.txt", "bag-info.txt",
     "manifest-md5.txt", "tagmanifest-sha256.txt", "fetch.txt", "a\nb", "back\\slash", " lead"],
)
def test_bad_tag_file_names_are_refused(name):
    with pytest.raises(BagInputError):
        bp.check_tag_file_name(name)


def test_tag_files_may_live_in_subdirectories():
    assert bp.check_tag_file_name("opsledger/events.jsonl") == "opsledger/events.jsonl"
    assert bp.check_tag_file_name("opsledger/manifest-notes.txt")
