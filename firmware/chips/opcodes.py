"""The 8051 instruction set as data: for each opcode its mnemonic form, length in bytes
and machine cycles on the classic 12-clock core (Intel MCS-51 / Atmel doc0509 table), and
whether it is a conditional branch. Chip clock tables (firmware/measure/timing.py) key on the form."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Op:
    form: str  # e.g. "MOV A,Rn", as the vendors' tables write it
    size: int
    cycles12: int  # machine cycles of 12 clocks
    cond: bool = False  # conditional branch: taken or not decides its time on 1T cores


_ROW_RN = ["INC Rn", "DEC Rn", "ADD A,Rn", "ADDC A,Rn", "ORL A,Rn", "ANL A,Rn", "XRL A,Rn", "MOV Rn,#data",
           "MOV direct,Rn", "SUBB A,Rn", "MOV Rn,direct", "CJNE Rn,#data,rel", "XCH A,Rn", "DJNZ Rn,rel",
           "MOV A,Rn", "MOV Rn,A"]
_ROW_RI = [f.replace("Rn", "@Ri") for f in _ROW_RN]
_ROW_RI[13] = "XCHD A,@Ri"
_COL = {  # low nibble 0..5: (form, size, cycles) by high nibble
    0: [("NOP", 1, 1), ("JBC bit,rel", 3, 2), ("JB bit,rel", 3, 2), ("JNB bit,rel", 3, 2), ("JC rel", 2, 2),
        ("JNC rel", 2, 2), ("JZ rel", 2, 2), ("JNZ rel", 2, 2), ("SJMP rel", 2, 2), ("MOV DPTR,#data16", 3, 2),
        ("ORL C,/bit", 2, 2), ("ANL C,/bit", 2, 2), ("PUSH direct", 2, 2), ("POP direct", 2, 2),
        ("MOVX A,@DPTR", 1, 2), ("MOVX @DPTR,A", 1, 2)],
    2: [("LJMP addr16", 3, 2), ("LCALL addr16", 3, 2), ("RET", 1, 2), ("RETI", 1, 2), ("ORL direct,A", 2, 1),
        ("ANL direct,A", 2, 1), ("XRL direct,A", 2, 1), ("ORL C,bit", 2, 2), ("ANL C,bit", 2, 2), ("MOV bit,C", 2, 2),
        ("MOV C,bit", 2, 1), ("CPL bit", 2, 1), ("CLR bit", 2, 1), ("SETB bit", 2, 1), ("MOVX A,@Ri", 1, 2),
        ("MOVX @Ri,A", 1, 2)],
    3: [("RR A", 1, 1), ("RRC A", 1, 1), ("RL A", 1, 1), ("RLC A", 1, 1), ("ORL direct,#data", 3, 2),
        ("ANL direct,#data", 3, 2), ("XRL direct,#data", 3, 2), ("JMP @A+DPTR", 1, 2), ("MOVC A,@A+PC", 1, 2),
        ("MOVC A,@A+DPTR", 1, 2), ("INC DPTR", 1, 2), ("CPL C", 1, 1), ("CLR C", 1, 1), ("SETB C", 1, 1),
        ("MOVX A,@Ri", 1, 2), ("MOVX @Ri,A", 1, 2)],
    4: [("INC A", 1, 1), ("DEC A", 1, 1), ("ADD A,#data", 2, 1), ("ADDC A,#data", 2, 1), ("ORL A,#data", 2, 1),
        ("ANL A,#data", 2, 1), ("XRL A,#data", 2, 1), ("MOV A,#data", 2, 1), ("DIV AB", 1, 4), ("SUBB A,#data", 2, 1),
        ("MUL AB", 1, 4), ("CJNE A,#data,rel", 3, 2), ("SWAP A", 1, 1), ("DA A", 1, 1), ("CLR A", 1, 1), ("CPL A", 1, 1)],
    5: [("INC direct", 2, 1), ("DEC direct", 2, 1), ("ADD A,direct", 2, 1), ("ADDC A,direct", 2, 1),
        ("ORL A,direct", 2, 1), ("ANL A,direct", 2, 1), ("XRL A,direct", 2, 1), ("MOV direct,#data", 3, 2),
        ("MOV direct2,direct1", 3, 2), ("SUBB A,direct", 2, 1), ("DB 0xA5", 1, 1), ("CJNE A,direct,rel", 3, 2),
        ("XCH A,direct", 2, 1), ("DJNZ direct,rel", 3, 2), ("MOV A,direct", 2, 1), ("MOV direct,A", 2, 1)],
}
_RN_SIZE = {"MOV Rn,#data": 2, "MOV direct,Rn": 2, "MOV Rn,direct": 2, "CJNE Rn,#data,rel": 3, "DJNZ Rn,rel": 2,
            "MOV @Ri,#data": 2, "MOV direct,@Ri": 2, "MOV @Ri,direct": 2, "CJNE @Ri,#data,rel": 3}
_RN_CYCLES = {"MOV direct,Rn": 2, "MOV Rn,direct": 2, "CJNE Rn,#data,rel": 2, "DJNZ Rn,rel": 2,
              "MOV direct,@Ri": 2, "MOV @Ri,direct": 2, "CJNE @Ri,#data,rel": 2}
CONDITIONAL = {"JBC bit,rel", "JB bit,rel", "JNB bit,rel", "JC rel", "JNC rel", "JZ rel", "JNZ rel",
               "CJNE A,#data,rel", "CJNE A,direct,rel", "CJNE Rn,#data,rel", "CJNE @Ri,#data,rel",
               "DJNZ Rn,rel", "DJNZ direct,rel"}


def _table() -> list[Op]:
    ops = []
    for code in range(256):
        hi, lo = code >> 4, code & 15
        if lo == 1:
            form, size, cyc = ("ACALL addr11" if hi & 1 else "AJMP addr11"), 2, 2
        elif lo in _COL:
            form, size, cyc = _COL[lo][hi]
        else:
            form = (_ROW_RI if lo in (6, 7) else _ROW_RN)[hi]
            size, cyc = _RN_SIZE.get(form, 1), _RN_CYCLES.get(form, 1)
        ops.append(Op(form, size, cyc, form in CONDITIONAL))
    return ops


OPS = _table()
