"""Chips as data and formulas: the target table (every register value cited), start-up schemes, opcode and clock tables. Imports nothing of firmware/."""
