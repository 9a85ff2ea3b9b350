"""Typed errors of the storage layer."""

from __future__ import annotations


class StorageError(Exception):
    """Base class of every storage failure this package raises on purpose."""


class MigrationError(StorageError):
    """The migrations cannot be applied (bad file name, lock timeout, SQL failure)."""


class ChecksumMismatchError(MigrationError):
    """An already-applied migration file changed on disk; the database was left untouched."""

    def __init__(self, version: int, name: str, applied: str, current: str) -> None:
        super().__init__(
            f"migration {version:04d} ({name}) was applied with checksum {applied[:12]}..., "
            f"but the shipped file now has {current[:12]}...; refusing to continue "
            "(never edit an applied migration: add a new one)"
        )
        self.version = version
        self.applied = applied
        self.current = current


class MigrationLockTimeoutError(MigrationError):
    """Another migrator held the advisory lock for longer than the allowed wait."""


class SessionConflictError(StorageError):
    """A session update kept losing optimistic-lock races; the caller may retry the turn."""
