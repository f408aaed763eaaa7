"""The trust setup the command line, the jobs and the server share: the trust policy, the
checkpoint signer with its own record, the trusted state verify checks against, and the fork
alarm's sinks, all from the settings."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from sequestra.chains.watch.webhook import WebhookSink, WebhookTarget
from sequestra.config import Settings
from sequestra.errors import ConfigurationError
from sequestra.ledger.keys import SigningKey, decode_public_key, load_public_key
from sequestra.ledger.note import Ed25519Verifier, parse_verifier_key
from sequestra.ledger.policy import (
    JudgedCosignatures,
    TrustPolicy,
    judge_cosignatures,
    read_policy,
)
from sequestra.ledger.signer import CheckpointSigner, ForkDetected, SignerStore
from sequestra.ledger.trust import TrustedState, gather_trusted_state
from sequestra.service.anchored import AnchorReading, AnchorRef, anchor_reading, parse_anchor_ref
from sequestra.service.logfmt import log_event

log = logging.getLogger("sequestra.trust")

KEPT_CHECKPOINT_BYTES_MAX = 1 << 20


def load_policy(settings: Settings, path: Path | None = None) -> TrustPolicy | None:
    """The trust policy (`path`, else `[trust] policy_file`), or None when none is set.

    Raises PolicyError naming the line that is wrong.
    """
    chosen = path or settings.trust.policy_file
    return None if chosen is None else read_policy(chosen)


def signer_store(settings: Settings, key_file: Path | None) -> SignerStore | None:
    """Where the signer keeps its record, or None without a key file or a set path."""
    path = settings.ledger.signer_state_path(key_file)
    return None if path is None else SignerStore(path)


def checkpoint_signer(
    settings: Settings,
    key: SigningKey,
    key_file: Path,
    policy: TrustPolicy | None,
    state_file: Path | None = None,
) -> CheckpointSigner:
    """The signer: the ledger key, its record (the given file, `[ledger] signer_state_file`
    or beside the key file) and the policy whose witnesses it checks and pushes to."""
    store = SignerStore(state_file) if state_file is not None else signer_store(settings, key_file)
    if store is None:
        raise ConfigurationError("ledger.signer_state_file: expected a path for the signer")
    ledger_key = None if policy is None else parse_verifier_key(policy.ledger.verifier_key)
    if (
        policy is not None
        and ledger_key is not None
        and ledger_key.public_key != key.public_key_raw
    ):
        raise ConfigurationError(
            f"{policy.source}: its log key is not the ledger key in {key_file}"
        )
    return CheckpointSigner(key, store, policy)


def trusted_state(
    settings: Settings,
    policy: TrustPolicy | None,
    kept_files: Sequence[Path] = (),
    *,
    fetch_witnesses: bool | None = None,
    engine: Engine | None = None,
    anchors: Sequence[str] = (),
) -> TrustedState | None:
    """What pins the ledger from outside the database: the policy's witnesses' latest
    cosigned checkpoints, the checkpoints kept by an auditor (`[trust]
    trusted_checkpoint_files` and `kept_files`) and the anchors read back from their chains
    (`[trust] trusted_anchors`, `anchors`, and with `read_recorded_anchors` those recorded in
    `engine`'s database); None when there is none of these (verify then says the history is
    not pinned). Raises AnchorRefError for a malformed anchor reference."""
    more = tuple(parse_anchor_ref(text) for text in anchors)
    trust = _service_trust(settings, policy)
    return trust.trusted_state(kept_files, fetch_witnesses, engine=engine, more_anchors=more)


def _read_kept(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(KEPT_CHECKPOINT_BYTES_MAX + 1)
    except OSError as error:
        raise ConfigurationError(f"trusted checkpoint {path}: {error.strerror}") from error
    if len(data) > KEPT_CHECKPOINT_BYTES_MAX:
        raise ConfigurationError(f"trusted checkpoint {path}: larger than a signed note")
    return data


def trusted_ledger_key(settings: Settings, given: str | None) -> bytes | None:
    """The ledger key to pin the genesis to: the given text or file, else `[ledger]
    public_key`, else None."""
    text = given or settings.ledger.public_key
    return load_public_key(text) if text else None


def raise_fork_alarm(settings: Settings, fork: ForkDetected) -> None:
    """Tell everyone a fork was found: the log at ERROR and the webhooks (the alarm itself
    was recorded beside the signer's record before it was raised)."""
    log_event(log, logging.ERROR, "fork.alarm", reason=str(fork), **_flat(fork.evidence))
    targets = [WebhookTarget(w.url, w.timeout_s, w.secret_file) for w in settings.watch.webhooks]
    if targets:
        alarm = {"alert": "fork", "severity": "critical", "reason": str(fork), **fork.evidence}
        WebhookSink(targets)([alarm])


def _flat(evidence: dict[str, object]) -> dict[str, str]:
    return {key: str(value)[:500] for key, value in evidence.items() if key != "publication"}


@dataclass(frozen=True)
class ServiceTrust:
    """What the server judges history by: the trust policy, where fork alarms are recorded
    (beside the signer's record), the checkpoints kept by an auditor, and (without a policy)
    the configured ledger key the kept checkpoints are checked against."""

    policy: TrustPolicy | None = None
    alarms: SignerStore | None = None
    kept: tuple[Path, ...] = ()
    fetch_witnesses: bool = True
    ledger_verifier: Ed25519Verifier | None = None
    anchors: AnchorReading | None = None  # anchors read back from their chains

    def open_alarms(self) -> list[dict[str, object]]:
        return [] if self.alarms is None else self.alarms.alarms()

    def judge(self, note: bytes) -> JudgedCosignatures:
        return judge_cosignatures(self.policy, note)

    def trusted_state(
        self,
        more_kept: Sequence[Path] = (),
        fetch_witnesses: bool | None = None,
        *,
        engine: Engine | None = None,
        more_anchors: Sequence[AnchorRef] = (),
    ) -> TrustedState | None:
        """The trusted state (see `trusted_state`); asks the witnesses over the network
        unless `fetch_witnesses` (default: the settings') is False, and reads anchors back
        from their chains."""
        files = (*self.kept, *more_kept)
        reading = self.anchors
        anchored = reading is not None and reading.wanted(more_anchors)
        if self.policy is None and not files and not anchored:
            return None
        kept = [(str(path), _read_kept(path)) for path in files]
        verifier = self.ledger_verifier if self.policy is None else None
        fetch = self.fetch_witnesses if fetch_witnesses is None else fetch_witnesses
        state = gather_trusted_state(
            self.policy, kept, ledger_verifier=verifier, fetch_witnesses=fetch
        )
        if reading is not None and anchored:
            origin = self.policy.origin if self.policy else reading.settings.ledger.origin
            heads, notes = reading.heads(origin, engine, more_anchors)
            state = state.joined(heads, notes)
        return state


def service_trust(settings: Settings) -> ServiceTrust:
    """The server's trust setup from the settings (`[trust]`, `[ledger]`).

    Raises PolicyError naming the policy's bad line."""
    return _service_trust(settings, load_policy(settings))


def _service_trust(settings: Settings, policy: TrustPolicy | None) -> ServiceTrust:
    verifier = None
    if settings.ledger.public_key:
        verifier = Ed25519Verifier(
            settings.ledger.origin, decode_public_key(settings.ledger.public_key)
        )
    return ServiceTrust(
        policy,
        signer_store(settings, None),
        tuple(settings.trust.trusted_checkpoint_files),
        settings.trust.fetch_witnesses,
        verifier,
        anchor_reading(settings),
    )
