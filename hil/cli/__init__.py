"""The ``hil`` command line."""

from __future__ import annotations

import sys

import click

from hil import __version__
from hil.errors import HarnessError
from hil.sts.errors import StsError


class HilGroup(click.Group):
    """Turns expected errors into one line on stderr with exit status 2."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (StsError, HarnessError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=HilGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="hil")
def main() -> None:
    """STS prepaid meter hardware-in-the-loop test harness."""


def _register() -> None:
    from hil.cli.key_cmd import key
    from hil.cli.lab_cmd import lab
    from hil.cli.report_cmd import diff, report
    from hil.cli.rig_cmd import rig
    from hil.cli.run_cmd import run
    from hil.cli.selftest_cmd import selftest
    from hil.cli.sim_cmd import sim
    from hil.cli.token_cmd import token
    from hil.cli.vectors_cmd import vectors

    for command in (run, report, diff, token, key, vectors, sim, selftest, rig, lab):
        main.add_command(command)


_register()
