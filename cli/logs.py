"""`bosun logs`: what the replicas of a process-pool deployment wrote (stdout and stderr).

Read from the process driver's files under the data directory, so run it where the driver runs.
"""
from __future__ import annotations

import click

from cli.base import Settings, pass_settings


@click.command()
@click.argument("target", metavar="KIND/NAME")
@click.option("-n", "--namespace", default="default", show_default=True)
@click.option("--replica", default=None, help="Only this replica (e.g. chat-3).")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (Ctrl-C to stop).")
@pass_settings
def logs(settings: Settings, target: str, namespace: str, replica: str | None, follow: bool) -> None:
    """Logs of a deployment's replicas, prefixed by replica id unless one is chosen."""
    from dataplane.process import logs as replica_logs

    _kind, _, name = target.rpartition("/")
    paths = replica_logs.files(settings.data, namespace, name, replica)
    if not paths and not follow:
        raise click.ClickException(f"no replica logs for {target} in {namespace} under {settings.data}")
    prefix = replica is None
    if not follow:
        for line in replica_logs.read(paths, prefix):
            click.echo(line)
        return
    try:
        for line in replica_logs.follow(lambda: replica_logs.files(settings.data, namespace, name, replica), prefix,
                                        start_at_end=False):
            click.echo(line)
    except KeyboardInterrupt:
        pass
