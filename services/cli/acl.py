"""``emostream acl``: one Redis ACL user per service, allowed only its own keys and the commands it uses.

``emostream acl`` prints the ``ACL SETUSER`` commands; ``--out users.acl`` writes an ACL file for
``redis-server --aclfile`` (compose and k8s). The passwords come from ``EMOSTREAM_REDIS_PASSWORD_<USER>``
(e.g. ``EMOSTREAM_REDIS_PASSWORD_DETECTOR``); with ``--out`` every one must be set, otherwise a missing
one is generated and printed. Every file also turns the anonymous ``default`` user off. ``up`` and
``analyze`` give their embedded Redis the same users (``cli.embedded_redis``), each child its own.

A camera key has two spellings, ``emo:frames:cam`` on a single Redis and ``emo:{s3}:frames:cam`` on a
cluster (``common.keys``); every pattern below allows both. ``%R~`` allows reading a key, ``%W~`` writing
it, ``~`` both.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

#: what every service may run: data commands of the kinds it uses, transactions, scripts (the leases),
#: and what a cluster client asks at connect; never admin, dangerous (FLUSHALL, KEYS, CONFIG, DEBUG...),
#: functions or pub/sub
COMMANDS = (
    "-@all +@read +@write +@transaction +@connection -@dangerous -@admin -@pubsub -function"
    " +eval +evalsha +script|load +script|exists +command"
    " +cluster|slots +cluster|shards +cluster|nodes +cluster|info +cluster|myid +readonly"
)


def camera_keys(*bases: str) -> list[str]:
    """Both spellings of per-camera keys (``emo:BASE`` and ``emo:{sN}:BASE``)."""
    return [p for base in bases for p in (f"emo:{base}", f"emo:{{s*}}:{base}")]


def _rules(read: list[str], write: list[str], both: list[str]) -> list[str]:
    return [*(f"%R~{k}" for k in read), *(f"%W~{k}" for k in write), *(f"~{k}" for k in both)]


def _service(name: str, read: list[str], write: list[str], both: list[str]) -> list[str]:
    health = [f"emo:health:{name}:*"]
    return _rules(["emo:cameras", *read], [*write, *health], both)


#: the key patterns of each service (see each service's module docstring for what it reads and writes)
USERS: dict[str, list[str]] = {
    "ingest": _service(
        "ingest",
        read=[],
        write=[],
        both=["emo:cameras", "frame:*", *camera_keys("frames:*", "camera:*")],
    ),
    "detector": _service(
        "detector",
        read=camera_keys("camera:*"),
        write=[*camera_keys("faces:*", "dead")],
        both=["frame:*", *camera_keys("frames:*")],
    ),
    "classifier": _service(
        "classifier",
        read=["frame:*", *camera_keys("camera:*")],
        write=[*camera_keys("emotions:*", "dead")],
        both=camera_keys("faces:*"),
    ),
    "tracker": _service(
        "tracker",
        read=camera_keys("camera:*"),
        write=camera_keys("tracks:*", "dead"),
        both=camera_keys("emotions:*", "tracker:*", "timeline:*"),
    ),
    "events": _service(
        "events",
        read=camera_keys("camera:*"),
        write=camera_keys("dead"),
        both=camera_keys("tracks:*", "events", "events:*", "history:*"),
    ),
    # the dashboard reads everything it shows; it writes cameras, jobs, webcam frames, and removes what
    # a removed camera or a finished job leaves behind, and all of a purged one (services.common.purge)
    "ui": _rules(
        ["emo:*"],
        ["emo:health:ui:*"],
        [
            "emo:cameras",
            "emo:jobs",
            "emo:job:*",
            "frame:*",
            *camera_keys("camera:*", "frames:*", "faces:*", "emotions:*", "tracks:*"),
            *camera_keys("tracker:state:*", "timeline:*"),
            *camera_keys("history:*", "events", "events:state:*", "events:dead", "dead"),
        ],
    ),
}
#: commands a user runs beyond :data:`COMMANDS`: the ui has Redis rewrite its files after a purge, and
#: reads INFO persistence to know when that is done (both admin commands, neither shows data)
EXTRA_COMMANDS: dict[str, str] = {"ui": "+bgrewriteaof +bgsave +info"}
ADMIN = "admin"  # operators and the CLI's own checks: everything


def password_env(user: str) -> str:
    return f"EMOSTREAM_REDIS_PASSWORD_{user.upper()}"


def rules(user: str, password: str) -> list[str]:
    """The ``ACL SETUSER`` arguments of ``user`` (a service, or ``admin``)."""
    head = ["reset", "on", f">{password}"]
    if user == ADMIN:
        return [*head, "~*", "&*", "+@all"]
    return [*head, "resetchannels", *COMMANDS.split(), *EXTRA_COMMANDS.get(user, "").split(), *USERS[user]]


def config_line(user: str, password: str) -> str:
    """``user`` as a config-file or ACL-file line (``user NAME on >PASSWORD ...``: a new user, no reset)."""
    return f"user {user} {' '.join(rules(user, password)[1:])}"


def users_acl(passwords: dict[str, str]) -> str:
    """An ACL file (``redis-server --aclfile``): the users of ``passwords``, and ``default`` off."""
    lines = ["user default off resetkeys resetchannels -@all"]
    lines += [config_line(u, p) for u, p in passwords.items()]
    return "\n".join(lines) + "\n"


def new_passwords() -> dict[str, str]:
    return {u: secrets.token_urlsafe(24) for u in (*USERS, ADMIN)}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, help="write an ACL file for redis-server --aclfile (0600)")


def run(args: argparse.Namespace) -> int:
    passwords: dict[str, str] = {}
    generated = []
    for user in (*USERS, ADMIN):
        value = os.environ.get(password_env(user), "")
        if not value:
            if args.out:
                print(f"emostream acl: {password_env(user)} is not set", file=sys.stderr)
                return 2
            value = secrets.token_urlsafe(24)
            generated.append(user)
        passwords[user] = value
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(users_acl(passwords))
        print(f"emostream acl: wrote {len(passwords)} users to {args.out}")
        return 0
    for user in generated:
        print(f"# generated: {password_env(user)}={passwords[user]}")
    print("ACL SETUSER default off")
    for user, password in passwords.items():
        print("ACL SETUSER " + user + " " + " ".join(rules(user, password)))
    return 0
