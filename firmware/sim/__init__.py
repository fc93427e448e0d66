"""The s51 simulator: its process (UART on a socket or a pty, batch runs for measurements), child processes that never outlive digit51, signals, and the reading of s51's console."""
