"""pinlib 1: the version a plugin sees tells which installation it imported."""

VERSION = "1.0.0"
