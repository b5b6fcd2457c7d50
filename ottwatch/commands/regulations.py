"""`ottwatch regulations`: the regulation table in effect, with its sources."""

from __future__ import annotations

from typing import Any

import click
import orjson
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ottwatch.commands.common import config_option, load
from ottwatch.regulations.model import DEADLINE_KINDS, Deadline, Regulation
from ottwatch.regulations.settings import settings_from_config
from ottwatch.regulations.table import RegulationTable, RegulationTableError

TOOL_DEFAULT = "*"
OVERRIDDEN = "†"
UNCONFIRMED = "(?)"
FOOTNOTES = (
    f"{TOOL_DEFAULT} the tool's operational default, not the law's",
    f"{OVERRIDDEN} set by the operator in the config",
    f"{UNCONFIRMED} unconfirmed against the law's primary text",
)


@click.command("regulations")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
def command(config_path: str | None, as_json: bool) -> None:
    """Show the privacy-regulation table in effect: deadlines, consent model,
    children's age and maximum fine per regulation, each with its source.
    Figures set under [regulations] overrides in the config are applied."""
    try:
        table = RegulationTable.load(settings_from_config(load(config_path)))
    except (RegulationTableError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(orjson.dumps([regulation_record(r) for r in table],
                                option=orjson.OPT_INDENT_2).decode())
        return
    console = Console()
    console.print(render(table))
    for note in FOOTNOTES:
        console.print(escape(note), style="dim")


regulations = command


def regulation_record(regulation: Regulation) -> dict[str, Any]:
    record = regulation.model_dump(mode="json")
    for kind in DEADLINE_KINDS:
        record[kind]["seconds"] = regulation.deadline(kind).seconds
    return record


def render(table: RegulationTable) -> Table:
    out = Table(title="Privacy regulations (defaults, not legal advice)", title_justify="left",
                show_lines=True)
    out.add_column("id", no_wrap=True)
    out.add_column("law", ratio=2, overflow="fold")
    out.add_column("regions", no_wrap=True)
    for header in ("breach notice", "access (DSAR)", "deletion", "consent", "children",
                   "maximum fine"):
        out.add_column(header, ratio=2, overflow="fold")
    for regulation in table:
        out.add_row(*row_cells(regulation))
    return out


def row_cells(regulation: Regulation) -> list[str]:
    def mark(figure: str) -> str:
        return f" {UNCONFIRMED}" if figure in regulation.unconfirmed else ""

    ident = f"[bold]{escape(regulation.id)}[/]"
    if not regulation.confirmed:
        ident += "\n[yellow]unconfirmed[/]"
    consent, children, fine = regulation.consent, regulation.children, regulation.fine
    age = str(children.age) if children.age is not None else "-"
    return [
        ident,
        escape(regulation.law),
        escape(", ".join(regulation.regions)),
        *(deadline_cell(regulation.deadline(kind)) + mark(kind) for kind in DEADLINE_KINDS),
        f"[bold]{consent.model}[/]{mark('consent')}\n{_sourced(consent.text, consent.source)}",
        f"[bold]{age}[/]{mark('children')}\n{_sourced(children.text, children.source)}",
        f"{_sourced(fine.text, fine.source)}{mark('fine')}",
    ]


def deadline_cell(deadline: Deadline) -> str:
    flags = (TOOL_DEFAULT if deadline.tool_default else "") + \
        (OVERRIDDEN if deadline.overridden else "")
    return f"[bold]{deadline.figure}{escape(flags)}[/]\n{_sourced(deadline.law, deadline.source)}"


def _sourced(text: str, source: str) -> str:
    return f"{escape(text)} [dim]({escape(source)})[/]"
