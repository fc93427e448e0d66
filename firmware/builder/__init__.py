"""The SDCC build: the fit budget checked before compiling, rendering and compiling in a private folder, and the readers of SDCC's artifacts (.map, .mem, .ihx, .lst)."""
