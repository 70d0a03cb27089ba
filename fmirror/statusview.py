"""`fmirror status` for humans: the same data as --json, as short lines."""

import time


def _ago(ts, now):
    if ts is None:
        return "never"
    return f"{_duration(now - ts)} ago"


def _duration(seconds):
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def render(data: dict, now: float | None = None) -> str:
    now = time.time() if now is None else now
    lines = [f"node {data['node']}: {data['role']}, epoch {data['epoch']}, since {_ago(data.get('role_since'), now)}"]
    daemon = data.get("daemon", {})
    lines.append(f"daemon: running, pid {daemon['pid']}" if daemon.get("running") else "daemon: not running")
    if data.get("reason"):
        lines.append(f"why: {data['reason']}")
    fip = data.get("floating_ip")
    if fip:
        lines.append(f"floating IP {fip['address']}: {'held here' if fip['held'] else 'NOT held here'}")
    mon = data.get("monitor")
    if mon:
        checks = ", ".join(f"{n} {'ok' if c['ok'] else 'FAILED'}" for n, c in mon["checks"].items())
        lines.append(f"master {mon['master_node']}: {mon['master']} ({mon['failures']} failed rounds in a row); {checks}")
    sus = data.get("suspended")
    if sus:
        lines.append(f"SUSPENDED since {_ago(sus['since'], now)}; newer master: {sus['newer_master']}")
        lines.append(f"next: {sus['next']}")
    for name, peer in (data.get("peers") or {}).items():
        if peer.get("role") == "suspended":
            lines.append(f"peer {name}: SUSPENDED at epoch {peer['epoch']}: it awaits `fmirror restore` there")
    if data.get("unwatched_dirs"):
        lines.append(f"WARNING: {data['unwatched_dirs']} directories are not watched (inotify watch limit); "
                     "raise fs.inotify.max_user_watches")
    for name, s in data.get("slaves", {}).items():
        oldest = "" if s["oldest_unsent_age"] is None else f", oldest {_duration(s['oldest_unsent_age'])}"
        full = ", full sync pending" if s["full_sync_pending"] else ""
        lines.append(f"slave {name} ({s['address']}): {s['state']}; unsent {s['unsent']}{oldest}{full}; "
                     f"last push {_ago(s['last_push'], now)}; last full sync {_ago(s['last_full_sync'], now)}")
        for b in s.get("brakes") or ():
            lines.append(f"  DELETION BRAKE on {b['path']} since {_ago(b['since'], now)}: {b['deletes']} deletions "
                         "paused; check the master, then run `fmirror release-brake`")
        if s.get("last_error") and s["state"] != "ok":
            lines.append(f"  last error ({_ago(s['last_error_at'], now)}): {s['last_error']}")
    return "\n".join(lines)


def render_events(data: dict, now: float | None = None) -> str:
    """The last state changes with their times, newest last (`fmirror status --events`)."""
    events = data.get("events") or []
    if not events:
        return "no events since the daemon started" if data.get("daemon", {}).get("running") else \
            "daemon not running: no events"
    return "\n".join(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e["at"])) +
                     f"  {e['event']:13s} {e['role']:9s} epoch {e['epoch']}" + (f"  {e['detail']}" if e["detail"] else "")
                     for e in events)
