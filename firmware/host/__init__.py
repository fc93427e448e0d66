"""The host side of a running firmware: the serial session, the one Board (s51 or a chip on any pyserial URL), runs that build and compare, and the bit-exact comparison."""
