"""`digit51 report`'s output folder and model checks happen before the run (issue 19 item 6):
an empty -o, a folder holding files the report did not write, a symlinked report file and a
folder that cannot be written are refused in one line, and nothing is written."""

import os

import pytest

from helpers import cli


def refused(small_qmodel, data_dir, out, cwd=None) -> str:
    p = cli("report", small_qmodel, "--data", data_dir, "-o", out, timeout=60, cwd=cwd)  # a run that is not refused takes minutes
    assert p.returncode == 1 and p.stdout == "" and "Traceback" not in p.stderr, p.stderr
    assert p.stderr.startswith("digit51: error: ") and p.stderr.count("\n") == 1, p.stderr
    return p.stderr[len("digit51: error: "):].strip()


def test_an_empty_output_is_refused_not_the_current_folder(small_qmodel, data_dir, tmp_path):
    assert refused(small_qmodel, data_dir, "", cwd=tmp_path) == "the output folder is empty: name a folder, e.g. -o out/fw"
    assert os.listdir(tmp_path) == []


def test_a_folder_with_other_files_is_refused_and_left_alone(small_qmodel, data_dir, tmp_path):
    mine = tmp_path / "site"
    mine.mkdir()
    (mine / "report.html").write_text("the user's own page")
    (mine / "index.html").write_text("keep")
    assert refused(small_qmodel, data_dir, mine) == f"{mine} holds files digit51 did not write (index.html): name a new or empty output folder"
    assert (mine / "report.html").read_text() == "the user's own page"


@pytest.mark.parametrize("name", ["report.json", "report.html", "confusion.png"])
def test_a_symlinked_report_file_is_refused_before_the_run(small_qmodel, data_dir, tmp_path, name):
    rep = tmp_path / "rep"
    rep.mkdir()
    target = tmp_path / "elsewhere.txt"
    target.write_text("not yours")
    (rep / name).symlink_to(target)
    assert refused(small_qmodel, data_dir, rep) == f"cannot write {rep / name}: it is a symlink, folder or special file; name a new or empty output folder"
    assert target.read_text() == "not yours" and sorted(os.listdir(rep)) == [name]


def test_a_folder_that_cannot_be_written_is_one_line(small_qmodel, data_dir, tmp_path):
    assert refused(small_qmodel, data_dir, "/proc/x").startswith("cannot write folder /proc/x: folder /proc is not writable")
    f = tmp_path / "file"
    f.write_text("x")
    assert refused(small_qmodel, data_dir, f) == f"cannot write folder {f}: it exists and is not a folder (a file, symlink or device)"
