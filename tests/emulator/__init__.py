"""udfcron's loopback emulator of the Fused and Fusion HTTP APIs (see README.md here)."""
