"""RDS: copies of encrypted snapshots from another account or Region, refused where RDS refuses them.

moto copies an encrypted snapshot shared from another account, or one in another Region, without
a `KmsKeyId` (the copy keeps the key of the source's database), and copies it whoever may use the
source's key. RDS needs a key of the caller's choosing for such a copy, and the caller must be
allowed to use the key that encrypts the source: the AWS managed key `aws/rds` only ever by its
own account. That last rule is what makes RDS's "You can't share a snapshot that has been
encrypted using the default KMS key" bite, and where it bites: at the other account's copy, not
at the share (below). A copy made without a key keeps its source snapshot's key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.kms.models import kms_backends
from moto.kms.utils import RESERVED_ALIASE_TARGET_KEY_IDS
from moto.rds.models import RDSBackend

from simulation.moto.rds import key_usable_by
from simulation.moto.wrapping import argument, wrapping

DEFAULT_KEY_ALIAS = "alias/aws/rds"
"""The AWS managed key RDS encrypts with when it is given no key (RDS User Guide, "AWS KMS key
management": "If you don't specify ... RDS uses your default KMS key", alias `aws/rds`)."""
_MOTO_DEFAULT_KEYS = (
    DEFAULT_KEY_ALIAS,
    "default_kms_key_id",
    RESERVED_ALIASE_TARGET_KEY_IDS[DEFAULT_KEY_ALIAS],
)
"""How moto names `aws/rds` where it has no key behind it: by alias; `default_kms_key_id`, the
key of a database made encrypted without a `KmsKeyId` (on AWS, the account's `aws/rds` in the
database's Region); and the key id ListAliases gives for `alias/aws/rds` (moto lists its
reserved aliases with fixed target ids before any key is made for them)."""


def _source_key_usable(snapshot: Any, caller: str) -> tuple[bool, str]:
    """(whether the caller may use the key that encrypts the snapshot, that key as RDS names it).

    A key named by id or alias is the snapshot's account's, in its Region. The AWS managed key
    `aws/rds` has a key policy RDS writes and no one can change (KMS Developer Guide, "Change a
    key policy": "you can only change the key policy for a customer managed key"), which lets
    only its own account use it: real reports of a copy of a shared snapshot encrypted with it
    end in KMSKeyNotAccessibleFault (awslabs/aurora-snapshot-tool#26, rds-snapshot-tool#34). Any
    other key: enabled, and the caller's own or allowing the caller's account in its key policy,
    as `rds.key_usable_by` decides for the key a copy is made with."""
    account, region = snapshot.backend.account_id, snapshot.backend.region_name
    named = str(snapshot.kms_key_id)
    if named.startswith("arn:"):
        _, _, _, region, account, named = named.split(":", 5)
    shown = f"arn:aws:kms:{region}:{account}:{named}"
    if named.removeprefix("key/") in _MOTO_DEFAULT_KEYS:
        return caller == account, f"arn:aws:kms:{region}:{account}:{DEFAULT_KEY_ALIAS}"
    keys = kms_backends[account][region].keys
    if named.startswith("alias/"):
        key = next((k for k in keys.values() if named in k.aliases), None)
    else:
        key = keys.get(named.removeprefix("key/"))
    if key is None:
        return False, shown
    if DEFAULT_KEY_ALIAS in key.aliases and caller != account:
        return False, key.arn
    return key_usable_by(key, account, caller), key.arn


def _encrypted_copy_rules(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    # moto copies an encrypted snapshot from another account or Region with no KmsKeyId (keeping
    # the source's key), and whatever the source's key policy says. Real RDS:
    # (1) a copy into another Region needs a KmsKeyId: "If you copy an encrypted snapshot to a
    #     different AWS Region, then you must specify an AWS KMS key identifier for the
    #     destination AWS Region" (API reference, CopyDBSnapshot and CopyDBClusterSnapshot,
    #     KmsKeyId); refused with InvalidParameterValue "Must specify new KMS key for cross region
    #     encrypted snapshot copy." (as reported in 1Strategy/rds-oracle-cross-account-cross-
    #     region-dr#1);
    # (2) so does a copy of an encrypted snapshot shared from another account: "If you copy an
    #     encrypted DB snapshot that is shared from another AWS account, then you must specify a
    #     value for this parameter" (same KmsKeyId text). No report names the code; RDS answers
    #     a parameter a request lacks or gets wrong with InvalidParameterValue, as in (1);
    # (3) the caller "must have access to the AWS KMS key that was used to encrypt the snapshot"
    #     (Aurora User Guide, "DB cluster snapshot copying"), else KMSKeyNotAccessibleFault "The
    #     source snapshot KMS key [<key ARN>] does not exist, is not enabled or you do not have
    #     permissions to access it" (awslabs/aurora-snapshot-tool#29 and #26;
    #     pbudzon/aws-maintenance#13). The AWS managed key aws/rds is never another account's
    #     to use: a snapshot encrypted with it can be shared (RDS accepted the share in the
    #     reports cited at `_source_key_usable`; the API reference of ModifyDBSnapshotAttribute
    #     names no error for it) but no other account can copy it, which is what the User Guide's
    #     "You can't share a snapshot that has been encrypted using the default KMS key"
    #     ("Sharing encrypted snapshots") comes to.
    # (4) a copy made without a KmsKeyId (of the caller's own snapshot, in its Region) "is
    #     encrypted with the same AWS KMS key as the source DB snapshot" (same KmsKeyId text); moto
    #     gives a DB snapshot's copy the key of the database the source was taken from, not the
    #     source's (which a copy may have changed).
    # A source not found, or not shared with the caller, is left to moto's answer (not found).
    from moto.rds.exceptions import RDSClientError

    source_parameter = (
        "source_db_cluster_snapshot_identifier"
        if kind == "cluster"
        else "source_db_snapshot_identifier"
    )

    def wrap(inner: Callable[..., Any]) -> Callable[..., Any]:
        def copy(backend: RDSBackend, *args: Any, **kwargs: Any) -> Any:
            identifier = str(argument(args, kwargs, 0, source_parameter))
            read = backend.get_db_cluster_snapshot if kind == "cluster" else backend.get_db_snapshot
            try:
                source = read(identifier)
            except RDSClientError:
                return inner(backend, *args, **kwargs)
            if not source.encrypted:
                return inner(backend, *args, **kwargs)
            owner = source.backend
            keyed = argument(args, kwargs, 2, "kms_key_id") is not None
            if not keyed:
                if owner.region_name != backend.region_name:
                    raise RDSClientError(
                        "InvalidParameterValue",
                        "Must specify new KMS key for cross region encrypted snapshot copy.",
                    )
                if owner.account_id != backend.account_id:
                    raise RDSClientError(
                        "InvalidParameterValue",
                        f"The snapshot {source.arn} is encrypted and shared from account "
                        f"{owner.account_id}: a KmsKeyId must be specified to copy it",
                    )
            usable, key = _source_key_usable(source, backend.account_id)
            if not usable:
                raise RDSClientError(
                    "KMSKeyNotAccessibleFault",
                    f"The source snapshot KMS key [{key}] does not exist, is not enabled or you "
                    "do not have permissions to access it.",
                )
            made = inner(backend, *args, **kwargs)
            if not keyed:
                made.kms_key_id = source.kms_key_id
            return made

        return copy

    return wrap


def patches() -> list[Any]:
    """Entered after `rds.rule_patches`: checked before the other rules and the limits."""
    return [
        wrapping(RDSBackend, "copy_db_snapshot", _encrypted_copy_rules("db")),
        wrapping(RDSBackend, "copy_db_cluster_snapshot", _encrypted_copy_rules("cluster")),
    ]


__all__ = ["DEFAULT_KEY_ALIAS", "patches"]
