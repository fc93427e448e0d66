"""`digit51 monitor` trusts no line it cannot read one way only (issue 19 item 8): a `done`
line that counts more images than the predictions seen fails the run, and a record with a
repeated key is a corrupt line, not its last value."""

from helpers import line
from test_protocol import PRED, monitor, sends

from digit51.firmware import protocol


def test_done_with_more_images_than_predictions_seen_fails(tmp_path):
    code, out, err = monitor(sends(line("done images=65535")), cwd=tmp_path)
    assert code == 1 and out == ""
    assert err.strip().splitlines()[-1] == ("digit51: error: the firmware says it answered 65535 images but 0 predictions "
                                            "arrived (was the monitor started after the firmware?)")
    code, out, err = monitor(sends(line(PRED) + line("done images=2")), cwd=tmp_path)
    assert code == 1 and "answered 2 images but 1 predictions arrived" in err
    code, out, err = monitor(sends(line(PRED) + line(PRED.replace("img=12", "img=13")) + line("done images=1")), cwd=tmp_path)
    assert code == 1 and "answered 1 images but 2 predictions arrived" in err
    code, out, err = monitor(sends(line(PRED) + line("done images=1")), cwd=tmp_path)
    assert code == 0, err


def test_a_repeated_key_makes_a_corrupt_line():
    for body in ("pred img=12 img=13 digit=5 logits=-5,0,7,99,-2147483648,2147483647,1,2,3,4 cycles=712345",
                 "done images=1 images=2", "done images=1 correct=1 correct=0", "ready mode=serve model=x model=y",
                 "error img=1 reason=crc img=2"):
        (rec,) = protocol.LineReader().feed(line(body))
        assert rec == protocol.BadLine(f"{body} *{protocol.crc16(body.encode()):04X}", f"repeated key in a '{body.split()[0]}' record")
    (rec,) = protocol.LineReader().feed(line("done images=1 correct=1"))
    assert rec == protocol.Done(1, 1)
