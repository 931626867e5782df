"""pinlib 2: the version a plugin sees tells which installation it imported."""

VERSION = "2.0.0"
