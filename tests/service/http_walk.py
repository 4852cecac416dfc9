"""Download a served tileset over HTTP the way a client walks it (independent of the writer).

Starts at ``tileset.json``, follows every ``content``/``contents`` URI of explicit trees
(descending into external tilesets), and for implicit roots reads the subtree files through
the availability they declare and fetches every available content. Every response must be
200; the files are written below ``dest`` under their relative URIs.
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Any

import httpx

from citymodel.tiler.implicit import available_tiles, expand_template
from citymodel.tiler.keys import TileKey
from citymodel.tiler.subtree import SubtreeAvailability, decode_subtree


class _Walk:
    def __init__(self, client: httpx.Client, base: str, dest: Path) -> None:
        self.client = client
        self.base = base.rstrip("/")
        self.dest = dest
        self.fetched: list[str] = []

    def get(self, rel: str) -> bytes:
        rel = posixpath.normpath(rel)
        assert not rel.startswith(".."), f"URI leaves the tileset: {rel}"
        response = self.client.get(f"{self.base}/{rel}")
        assert response.status_code == 200, (
            f"{rel}: HTTP {response.status_code} {response.text[:200]}"
        )
        target = self.dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(response.content)
        if rel not in self.fetched:
            self.fetched.append(rel)
        return response.content

    def tileset(self, rel: str) -> None:
        document = json.loads(self.get(rel))
        assert document["asset"]["version"] in ("1.0", "1.1")
        self.tile(document["root"], posixpath.dirname(rel))

    def tile(self, tile: dict[str, Any], folder: str) -> None:
        if "implicitTiling" in tile:
            self.implicit(tile, folder)
            return
        contents = tile.get("contents") or ([tile["content"]] if "content" in tile else [])
        for content in contents:
            uri = posixpath.join(folder, content["uri"])
            if uri.endswith(".json"):
                self.tileset(uri)
            else:
                self.get(uri)
        for child in tile.get("children", []):
            self.tile(child, folder)

    def implicit(self, tile: dict[str, Any], folder: str) -> None:
        spec = tile["implicitTiling"]
        assert spec["subdivisionScheme"] == "QUADTREE"
        levels = int(spec["subtreeLevels"])
        subtrees = posixpath.join(folder, spec["subtrees"]["uri"])
        contents = [c["uri"] for c in tile.get("contents") or [tile["content"]]]

        def read(key: TileKey) -> SubtreeAvailability:
            return decode_subtree(self.get(expand_template(subtrees, key)), subtree_levels=levels)

        for key, flags in available_tiles(
            read, subtree_levels=levels, available_levels=int(spec["availableLevels"])
        ):
            for template, present in zip(contents, flags, strict=True):
                if present:
                    self.get(posixpath.join(folder, expand_template(template, key)))


def download_tileset(client: httpx.Client, base: str, dest: Path) -> list[str]:
    """Fetch ``{base}/tileset.json`` and everything it references into ``dest``; the URIs."""
    walk = _Walk(client, base, dest)
    walk.tileset("tileset.json")
    return walk.fetched
