"""Fraud rings as a tree: ring -> shared resources -> member users."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static, Tree
from textual.widgets.tree import TreeNode

from storage import console
from tui.report_key import write_incident_report
from tui.safe import clock, plain, visible
from tui.views.tables import deliver, show_text

KIND_LABELS = {"device": "device", "ip": "IP", "payment": "payment"}


def ring_label(ring: dict[str, Any]) -> Text:
    style = "bold red" if ring["risk"] >= 0.7 else "yellow" if ring["risk"] >= 0.4 else ""
    text = Text(f"{visible(ring['ring_id'])}  ", style="bold")
    text.append(f"{ring['size']} accounts  risk {ring['risk']:.2f}", style=style)
    text.append(f"  last seen {clock(ring['last_seen'])}", style="dim")
    return text


def add_ring_branches(node: TreeNode[str | None], ring: dict[str, Any]) -> None:
    """Under a ring: what its accounts share, by kind, and its members."""
    by_kind: dict[str, list[str]] = {}
    for shared in ring["shared"] or []:
        by_kind.setdefault(shared.get("kind", "?"), []).append(shared.get("value", ""))
    for kind, values in by_kind.items():
        branch = node.add(Text(f"shared {KIND_LABELS.get(kind, kind)}s ({len(values)})"),
                          expand=True)
        for value in values:
            branch.add_leaf(plain(value))
    users = node.add(Text(f"members ({len(ring['members'] or [])})"), expand=True)
    for member in ring["members"] or []:
        users.add_leaf(plain(member), data=f"user:{member}")


class RingsView(Vertical):
    BINDINGS = [Binding("i", "report", "Incident report")]

    class OpenUser(Message):
        def __init__(self, user_id: str) -> None:
            super().__init__()
            self.user_id = user_id

    def __init__(self, engine: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine = engine
        self.shown: list[tuple[str, int, float]] = []
        self.rings: dict[str, dict[str, Any]] = {}

    def compose(self) -> ComposeResult:
        yield Static("", id="rings-summary")
        tree: Tree[str | None] = Tree("fraud rings", id="rings-tree")
        tree.show_root = False
        yield tree

    def refresh_data(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="rings")
    def _load(self) -> None:
        rings = console.rings(self.engine)
        deliver(self.app, self._show, rings)

    def _show(self, rings: list[dict[str, Any]]) -> None:
        signature = [(r["ring_id"], r["size"], r["risk"]) for r in rings]
        members = sum(r["size"] for r in rings)
        show_text(self.query_one("#rings-summary", Static),
                  f"{len(rings)} rings, {members} accounts  (enter on a user: drill down)")
        if signature == self.shown:
            return
        self.shown = signature
        self.rings = {r["ring_id"]: r for r in rings}
        tree = self.query_one(Tree)
        expanded = {n.data for n in tree.root.children if n.is_expanded}
        tree.clear()
        for ring in rings:
            node = tree.root.add(ring_label(ring), data=ring["ring_id"], allow_expand=True)
            if ring["ring_id"] in expanded:
                add_ring_branches(node, ring)
                node.expand()
        if tree.cursor_line < 0 and tree.root.children:
            tree.move_cursor(tree.root.children[0])

    @on(Tree.NodeExpanded, "#rings-tree")
    def _expanded(self, message: Tree.NodeExpanded[str | None]) -> None:
        """A ring's branches are made when it is first opened, not for every ring."""
        ring = self.rings.get(message.node.data or "")
        if ring is not None and not message.node.children:
            add_ring_branches(message.node, ring)

    def action_report(self) -> None:
        """The ring under the cursor, or the member user."""
        node = self.query_one(Tree).cursor_node
        data = node.data if node is not None else None
        while node is not None and not (isinstance(data, str) and data):
            node = node.parent
            data = node.data if node is not None else None
        if isinstance(data, str) and data:
            kind, value = ("user", data.removeprefix("user:")) if data.startswith("user:") \
                else ("ring", data)
            write_incident_report(self.app, self.engine, kind, value)

    @on(Tree.NodeSelected, "#rings-tree")
    def _selected(self, message: Tree.NodeSelected[str | None]) -> None:
        data = message.node.data
        if isinstance(data, str) and data.startswith("user:"):
            self.post_message(self.OpenUser(data.removeprefix("user:")))
