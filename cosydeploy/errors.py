"""The error types every adapter translates into, and the exit codes they map to.

Exit codes (the contract in the README):
  0 done; 1 release failed and was rolled back; 2 bad input or usage;
  3 failed and NOT back on a good release; 4 lock held; 130 interrupted.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_ROLLED_BACK = 1
EXIT_USAGE = 2
EXIT_NOT_RECOVERED = 3
EXIT_LOCKED = 4
EXIT_INTERRUPTED = 130


class CosydeployError(Exception):
    """An error the user can act on: one line of what and where, then a hint."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        # What also went wrong while cleaning up after this error (a ledger write, the
        # lock's release): reported as extra lines, never in place of this error.
        self.also: list[str] = []

    def __str__(self) -> str:
        return self.message


class ConfigError(CosydeployError):
    """A project config or client manifest is wrong (file, line, field)."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = ""
        if file:
            where = f"{file}:{line}: " if line else f"{file}: "
        what = f"{field}: {message}" if field else message
        super().__init__(f"{where}{what}", hint)
        self.file = file
        self.line = line
        self.field = field
        self.detail = message


class UsageError(CosydeployError):
    """A wrong flag, an unknown client or environment."""


class AwsError(CosydeployError):
    """An AWS call failed in a way the user must fix (credentials, account, missing resource)."""


class AwsFaultError(AwsError):
    """An AWS call did not get an answer it could use: ``fault`` is one of unreachable,
    5xx, throttled, denied, expired, error. Raised before anything changed (exit 2);
    once a deployment may be in flight the release reports an unknown outcome (exit 3)."""

    def __init__(self, message: str, hint: str | None = None, *, fault: str = "error") -> None:
        super().__init__(message, hint)
        self.fault = fault


class AccessDeniedError(AwsFaultError):
    """AWS refused a call the identity's policies do not allow (nothing after it ran)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint, fault="denied")


class AccountMismatchError(AwsError):
    """The caller's AWS account is not the one the manifest names."""


class DockerError(CosydeployError):
    """The Docker engine is unreachable, or a build or push failed."""


class TerraformError(CosydeployError):
    """Terraform reported an error (init, plan, apply, a held state lock)."""

    output: str = ""  # Terraform's own words, shown with --debug


class SandboxError(CosydeployError):
    """The sandbox could not start or is not running."""


class LockHeldError(CosydeployError):
    """Another release or rollback holds the deploy lock of this client/env."""

    exit_code = EXIT_LOCKED
