"""What each subcommand does, once the arguments are parsed."""

import json
import os
import sys

from fmirror import channel, control, protocol, serve, ssh, state as state_mod, statusview
from fmirror.config import load_config
from fmirror.config.load import describe
from fmirror.config.model import Role
from fmirror.errors import DaemonNotRunning, ExitCode, Failed, Refused


def dispatch(args) -> int:
    handler = {
        "daemon": cmd_daemon, "check-config": cmd_check_config, "status": cmd_status,
        "seed": cmd_seed, "wait": cmd_wait, "serve": cmd_serve, "demo": cmd_demo,
        "failover": cmd_failover, "switchover": cmd_switchover, "restore": cmd_restore,
        "versions": cmd_versions, "snapshot": cmd_snapshot, "release-brake": cmd_release_brake,
    }[args.command]
    return handler(args)


def _config(args):
    return load_config(args.config, node=args.node)


def cmd_daemon(args) -> int:
    from fmirror.daemon import Daemon
    return Daemon(args.config, node=args.node).run()


def cmd_check_config(args) -> int:
    cfg = _config(args)
    print(describe(cfg))
    try:
        live = state_mod.load(cfg)
        print(f"live role: {live.role.value}, epoch {live.epoch} (from {state_mod.state_path(cfg.state_dir)})")
    except Exception as e:  # the config is fine; a state problem is reported, not fatal here
        print(f"live role: unknown ({e})")
    return ExitCode.OK


def cmd_status(args) -> int:
    cfg = _config(args)
    try:
        data = control.call(cfg.state_dir, "status")
    except DaemonNotRunning:
        s = state_mod.load(cfg)
        data = {"node": s.node, "role": s.role.value, "epoch": s.epoch, "role_since": s.role_since,
                "daemon": {"running": False}, "config": cfg.path}
    if args.json:
        json.dump(data, sys.stdout, indent=1)
        print()
    elif args.events:
        print(statusview.render_events(data))
    else:
        print(statusview.render(data))
    return ExitCode.OK


def cmd_seed(args) -> int:
    from fmirror.seed import seed
    cfg = _config(args)
    live = state_mod.load(cfg)
    if live.role is not Role.MASTER:
        raise Refused(f"seed runs on the master; this node is {live.role.value}")
    return seed(cfg, live.epoch)


def cmd_wait(args) -> int:
    cfg = _config(args)
    result = control.call(cfg.state_dir, "wait", timeout=args.timeout + 10, seconds=args.timeout)
    if not result["replicated"]:
        raise Failed(f"not every change is on every slave after {args.timeout:g} s")
    return ExitCode.OK


def cmd_failover(args) -> int:
    cfg = _config(args)
    result = control.call(cfg.state_dir, "failover", timeout=120, force=args.force)
    print(result["sentence"])
    return ExitCode.OK


def cmd_switchover(args) -> int:
    cfg = _config(args)
    live = state_mod.load(cfg)
    if live.role is Role.MASTER:
        result = control.call(cfg.state_dir, "switchover", timeout=180, target=args.to)
    elif live.role is Role.SLAVE:
        master = cfg.nodes.get(live.master) or cfg.initial_master
        words = protocol.request("switchover", "--epoch", live.epoch, "--from", cfg.node)
        result = json.loads(ssh.call(cfg, master, words, timeout=180))
    else:
        raise Refused(f"this node is {live.role.value}: run `fmirror restore` first")
    print(f"switchover done: {result['master']} is master at epoch {result['epoch']}")
    return ExitCode.OK


def cmd_restore(args) -> int:
    from fmirror.restore import restore
    return restore(_config(args), dry_run=args.dry_run, failback=args.failback, yes=args.yes, as_json=args.json)


def cmd_versions(args) -> int:
    from fmirror import stamps, versions
    cfg = _config(args)
    if args.action == "list":
        print("\n".join(versions.list_lines(cfg, args.path)))
    elif args.action == "restore":
        print(versions.restore(cfg, args.path, stamps.parse_time(args.at) if args.at else None))
    else:
        print(f"removed {versions.prune(cfg)} folders of versions older than "
              f"{cfg.replication.keep_versions_days:g} days")
    return ExitCode.OK


def cmd_snapshot(args) -> int:
    from fmirror import snapshots
    cfg = _config(args)
    if args.action == "create":
        print(f"snapshot {snapshots.create(cfg)} taken")
    elif args.action == "list":
        print("\n".join(snapshots.list_lines(cfg)) or "no snapshots")
    else:
        gone = snapshots.prune(cfg)
        print(f"pruned {len(gone)} snapshots" + "".join(f"\n  {name}" for name in gone))
    return ExitCode.OK


def cmd_release_brake(args) -> int:
    cfg = _config(args)
    for r in control.call(cfg.state_dir, "release_brake")["released"]:
        print(f"released: {r['deletes']} deletions under {r['path']} on {r['slave']} go through now")
    return ExitCode.OK


def cmd_serve(args) -> int:
    cfg = _config(args)
    return serve.main(cfg, os.environ.get("SSH_ORIGINAL_COMMAND"), channel.own(cfg))


def cmd_demo(args) -> int:
    from fmirror.lab.demo import demo
    return demo(keep=args.keep)
