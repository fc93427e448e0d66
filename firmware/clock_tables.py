"""Published per-opcode clock tables of the 1T cores, as data: each table is typed from the
source named beside it (firmware/timing.py applies them; CH55x is a set of address rules and
lives there). Opcodes are the instruction's first byte with any register bits clear, as the
sources list them (0x28 = ADD A,Rn for R0..R7); firmware/opcodes.py names their forms.
"""

# EFM8 (CIP-51 core): the CIP-51 instruction set summary, as published in the C8051F12x
# datasheet and transcribed in cyrozap/8051-timing-db `cycles_CIP-51_published.csv`
# (commit 7baeac90be647a65b9042ff40b5bd2d768c9ec2e). Clocks per instruction by opcode.
# For conditional branches the CSV gives one figure: the branch not taken.
EFM8_SOURCE = ("CIP-51 instruction set summary (C8051F12x datasheet; cyrozap/8051-timing-db "
               "cycles_CIP-51_published.csv)")
EFM8 = {
    0x00: 1,                                             # NOP
    0x01: 3, 0x11: 3, 0x02: 4, 0x12: 4,                  # AJMP, ACALL, LJMP, LCALL
    0x22: 5, 0x32: 5, 0x80: 3, 0x73: 3,                  # RET, RETI, SJMP, JMP @A+DPTR
    0x03: 1, 0x13: 1, 0x23: 1, 0x33: 1,                  # RR, RRC, RL, RLC A
    0x04: 1, 0x05: 2, 0x06: 2, 0x08: 1,                  # INC A, direct, @Ri, Rn
    0x14: 1, 0x15: 2, 0x16: 2, 0x18: 1,                  # DEC A, direct, @Ri, Rn
    0x24: 2, 0x25: 2, 0x26: 2, 0x28: 1,                  # ADD A,#data / direct / @Ri / Rn
    0x34: 2, 0x35: 2, 0x36: 2, 0x38: 1,                  # ADDC
    0x94: 2, 0x95: 2, 0x96: 2, 0x98: 1,                  # SUBB
    0x42: 2, 0x43: 3, 0x44: 2, 0x45: 2, 0x46: 2, 0x48: 1,  # ORL direct,A / direct,#data / A,#data / A,direct / A,@Ri / A,Rn
    0x52: 2, 0x53: 3, 0x54: 2, 0x55: 2, 0x56: 2, 0x58: 1,  # ANL
    0x62: 2, 0x63: 3, 0x64: 2, 0x65: 2, 0x66: 2, 0x68: 1,  # XRL
    0x72: 2, 0x82: 2, 0xA0: 2, 0xB0: 2, 0xA2: 2, 0x92: 2,  # ORL C,bit / ANL C,bit / ORL C,/bit / ANL C,/bit / MOV C,bit / MOV bit,C
    0x74: 2, 0x75: 3, 0x76: 2, 0x78: 2,                  # MOV A,#data / direct,#data / @Ri,#data / Rn,#data
    0x85: 3, 0x86: 2, 0x88: 2, 0x90: 3,                  # MOV direct,direct / direct,@Ri / direct,Rn / DPTR,#data16
    0xA6: 2, 0xA8: 2, 0xE5: 2, 0xE6: 2, 0xE8: 1,         # MOV @Ri,direct / Rn,direct / A,direct / A,@Ri / A,Rn
    0xF5: 2, 0xF6: 2, 0xF8: 1,                           # MOV direct,A / @Ri,A / Rn,A
    0x83: 3, 0x93: 3,                                    # MOVC A,@A+PC / @A+DPTR
    0xE0: 3, 0xE2: 3, 0xF0: 3, 0xF2: 3,                  # MOVX A,@DPTR / A,@Ri / @DPTR,A / @Ri,A
    0x84: 8, 0xA4: 4, 0xA3: 1, 0xD4: 1,                  # DIV AB, MUL AB, INC DPTR, DA A
    0xC0: 2, 0xD0: 2,                                    # PUSH, POP
    0xC4: 1, 0xC5: 2, 0xC6: 2, 0xC8: 1, 0xD6: 2,         # SWAP A, XCH A,direct / @Ri / Rn, XCHD
    0xE4: 1, 0xF4: 1, 0xB3: 1, 0xB2: 2,                  # CLR A, CPL A, CPL C, CPL bit
    0xC3: 1, 0xC2: 2, 0xD3: 1, 0xD2: 2,                  # CLR C, CLR bit, SETB C, SETB bit
    0x10: 3, 0x20: 3, 0x30: 3, 0x40: 2, 0x50: 2,         # JBC, JB, JNB, JC, JNC (not taken)
    0x60: 2, 0x70: 2,                                    # JZ, JNZ (not taken)
    0xB4: 3, 0xB5: 3, 0xB6: 4, 0xB8: 3,                  # CJNE A,#data / A,direct / @Ri,#data / Rn,#data (not taken)
    0xD5: 3, 0xD8: 2,                                    # DJNZ direct, DJNZ Rn (not taken)
}
# A taken conditional branch: the CSV copy has no figure for it. Silicon Labs' CIP-51 tables
# print these entries as N/N+1 (not taken / taken); that notation was not in a copy read for
# this table, so a taken branch is counted as N to N+1 clocks (a range, not a figure):
# confirm against the EFM8BB3 reference manual's "CIP-51 Instruction Set Summary".
EFM8_TAKEN_EXTRA = (0, 1)

# N76E003 (1T 8051): datasheet Rev1.09 (Aug. 03, 2020), Table 30-1 "Instruction Set", pages 257-259
# (SoCXin/N76E003 docs/DS_N76E003_EN_Rev1.09.pdf). Clocks per instruction by form; the table
# lists one value per conditional branch (taken or not).
N76_SOURCE = ("N76E003 datasheet Rev1.09 Table 30-1, pp. 257-259 (SoCXin/N76E003 docs/DS_N76E003_EN_Rev1.09.pdf); "
              "one value per branch")
N76 = {
    "NOP": 1, "ADD A,Rn": 2, "ADD A,direct": 3, "ADD A,@Ri": 4, "ADD A,#data": 2,
    "ADDC A,Rn": 2, "ADDC A,direct": 3, "ADDC A,@Ri": 4, "ADDC A,#data": 2,
    "SUBB A,Rn": 2, "SUBB A,direct": 3, "SUBB A,@Ri": 4, "SUBB A,#data": 2,
    "INC A": 1, "INC Rn": 3, "INC direct": 4, "INC @Ri": 5, "INC DPTR": 1,
    "DEC A": 1, "DEC Rn": 3, "DEC direct": 4, "DEC @Ri": 5, "MUL AB": 4, "DIV AB": 4, "DA A": 1,
    "ANL A,Rn": 2, "ANL A,direct": 3, "ANL A,@Ri": 4, "ANL A,#data": 2, "ANL direct,A": 4, "ANL direct,#data": 4,
    "ORL A,Rn": 2, "ORL A,direct": 3, "ORL A,@Ri": 4, "ORL A,#data": 2, "ORL direct,A": 4, "ORL direct,#data": 4,
    "XRL A,Rn": 2, "XRL A,direct": 3, "XRL A,@Ri": 4, "XRL A,#data": 2, "XRL direct,A": 4, "XRL direct,#data": 4,
    "CLR A": 1, "CPL A": 1, "RL A": 1, "RLC A": 1, "RR A": 1, "RRC A": 1, "SWAP A": 1,
    "MOV A,Rn": 1, "MOV A,direct": 3, "MOV A,@Ri": 4, "MOV A,#data": 2, "MOV Rn,A": 1, "MOV Rn,direct": 4,
    "MOV Rn,#data": 2, "MOV direct,A": 2, "MOV direct,Rn": 3, "MOV direct2,direct1": 4, "MOV direct,@Ri": 5,
    "MOV direct,#data": 3, "MOV @Ri,A": 3, "MOV @Ri,direct": 4, "MOV @Ri,#data": 3, "MOV DPTR,#data16": 3,
    "MOVC A,@A+DPTR": 4, "MOVC A,@A+PC": 4, "MOVX A,@Ri": 5, "MOVX A,@DPTR": 4, "MOVX @Ri,A": 6, "MOVX @DPTR,A": 5,
    "PUSH direct": 4, "POP direct": 3, "XCH A,Rn": 2, "XCH A,direct": 3, "XCH A,@Ri": 4, "XCHD A,@Ri": 5,
    "CLR C": 1, "CLR bit": 4, "SETB C": 1, "SETB bit": 4, "CPL C": 1, "CPL bit": 4,
    "ANL C,bit": 3, "ANL C,/bit": 3, "ORL C,bit": 3, "ORL C,/bit": 3, "MOV C,bit": 3, "MOV bit,C": 4,
    "ACALL addr11": 4, "LCALL addr16": 4, "RET": 5, "RETI": 5, "AJMP addr11": 3, "LJMP addr16": 4, "SJMP rel": 3,
    "JMP @A+DPTR": 3, "JZ rel": 3, "JNZ rel": 3, "JC rel": 3, "JNC rel": 3, "JB bit,rel": 5, "JNB bit,rel": 5,
    "JBC bit,rel": 5, "CJNE A,direct,rel": 5, "CJNE A,#data,rel": 4, "CJNE Rn,#data,rel": 4, "CJNE @Ri,#data,rel": 6,
    "DJNZ Rn,rel": 4, "DJNZ direct,rel": 5,
}

# STC8H (STC-Y6 core): the per-instruction table of the STC8H datasheet (STC8H-en.pdf) was not
# readable here (tangyangguang/Stc8hBase keeps it as a file too large for the snapshot; no
# text copy found). What was read: the STC8H1K08 features page (Stc8hBase
# docs/vendor/stc/STC8H1K08_Features.pdf, page 1): "To execute all 111 instructions in
# sequence, the STC8H series microcontroller only needs 147 clocks, while the traditional 8051
# requires 1944 clocks". So STC8H stays a lower bound (1 clock per instruction) with
# that ratio as an estimate, until the table is typed in from the datasheet.
STC8H_SOURCE = ("STC8H per-opcode table not available here: lower bound 1 clock per instruction; "
                "estimate 12T clocks x 147/1944 (STC8H datasheet, all 111 instructions once)")
STC8H_AGGREGATE = (147, 1944)
