"""Test harness: start the ARM emulator and Azurite as real processes on free loopback ports."""
