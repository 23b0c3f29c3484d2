"""A bounded prefix KV cache keyed by token ids (a trie over tokens, LRU eviction).

Tree search re-sends "problem + steps so far"; with this cache a prompt is computed only from
the end of its longest cached prefix, so each tree token is computed about once. Entries hold
per-layer key/value tensors [heads, length, head_dim] of one token sequence.
"""
from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

KV = list[tuple[torch.Tensor, torch.Tensor]]  # per layer: (keys, values), each [heads, length, dim]


@dataclass
class _Node:
    children: dict[int, _Node] = field(default_factory=dict)
    entry: int | None = None  # a live entry whose sequence passes through this node
    count: int = 0            # live entries passing through this node
    ending: set[int] = field(default_factory=set)  # live entries that end exactly here


def kv_bytes(kv: KV) -> int:
    """Bytes held by per-layer (keys, values)."""
    return sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv)


class PrefixCache:
    """Longest-prefix lookup of cached KV by token ids, within a memory budget.

    Eviction is incremental: an evicted entry's path is unlinked node by node (each node
    counts the live entries through it), never a rebuild of the whole trie.
    """

    def __init__(self, max_bytes: int = 512 * 2**20) -> None:
        self.max_bytes = max_bytes
        self.entries: OrderedDict[int, tuple[tuple[int, ...], KV, int]] = OrderedDict()
        self.root = _Node()
        self.bytes = 0
        self._next = 0

    def lookup(self, ids: Sequence[int]) -> tuple[int, KV | None]:
        """(length, kv) of the longest cached prefix of `ids` (kv views sliced to that length)."""
        node, depth = self.root, 0
        for tok in ids:
            child = node.children.get(tok)
            if child is None:
                break
            node, depth = child, depth + 1
        if depth == 0:
            return 0, None
        self.entries.move_to_end(node.entry)
        kv = self.entries[node.entry][1]
        return depth, [(k[:, :depth], v[:, :depth]) for k, v in kv]

    def covers(self, ids: Sequence[int]) -> bool:
        """Whether all of `ids` is already cached (a prefix of, or equal to, an entry)."""
        node = self.root
        for tok in ids:
            node = node.children.get(tok)
            if node is None:
                return False
        return True

    def insert(self, ids: Sequence[int], kv: KV) -> None:
        """Remember the KV of a token sequence. `kv` may be views into a batch's cache: the
        cache copies what it keeps, and copies nothing for a sequence it already covers or
        one larger than its whole budget."""
        ids = tuple(ids)
        if not ids:
            return
        if self.covers(ids):  # a finished row that repeats a cached path: nothing to copy
            self.lookup(ids)  # ...but it was just used
            return
        size = kv_bytes(kv)
        if size > self.max_bytes:
            return
        entry = self._next
        self._next += 1
        self.entries[entry] = (ids, [(k.clone(), v.clone()) for k, v in kv], size)
        self.bytes += size
        node = self.root
        for tok in ids:
            node = node.children.setdefault(tok, _Node())
            node.entry = entry  # the newest entry through a node serves its prefixes
            node.count += 1
        node.ending.add(entry)
        if self.bytes > self.max_bytes:
            self._evict()

    def _evict(self) -> None:
        """Drop least recently used entries down to 3/4 of the budget."""
        while self.bytes > self.max_bytes * 0.75 and self.entries:
            entry, (ids, _, size) = self.entries.popitem(last=False)
            self.bytes -= size
            self._unlink(entry, ids)

    def _unlink(self, entry: int, ids: tuple[int, ...]) -> None:
        """Remove one entry from the trie: nodes no live entry passes through go; a node that
        pointed at it points at another live entry through it (a child's, or one ending there)."""
        path = [self.root]
        for tok in ids:
            path.append(path[-1].children[tok])
        path[-1].ending.discard(entry)
        for depth in range(len(ids), 0, -1):  # bottom-up: children are fixed before parents
            node, parent = path[depth], path[depth - 1]
            node.count -= 1
            if node.count == 0:
                del parent.children[ids[depth - 1]]
            elif node.entry == entry:
                node.entry = next((c.entry for c in node.children.values()), None)
                if node.entry is None:
                    node.entry = next(iter(node.ending))

    def clear(self) -> None:
        self.entries.clear()
        self.root = _Node()
        self.bytes = 0


class PrefixLedger:
    """Which token sequences a cell has computed so far, to charge each prompt only for its
    tokens past the longest prefix already computed (what a prefix-caching server computes).

    Sequences are kept sorted: the longest common prefix of `ids` with any kept sequence is
    its longest common prefix with one of its two sorted neighbours.
    """

    def __init__(self) -> None:
        self.sorted: list[tuple[int, ...]] = []

    def longest_prefix(self, ids: Sequence[int]) -> int:
        """Length of the longest prefix of `ids` that some added sequence starts with."""
        key = tuple(ids)
        i = bisect.bisect_left(self.sorted, key)
        return max((_common(key, self.sorted[j]) for j in (i - 1, i) if 0 <= j < len(self.sorted)), default=0)

    def add(self, ids: Sequence[int]) -> None:
        """Record a computed sequence (its every prefix counts as computed too)."""
        key = tuple(ids)
        i = bisect.bisect_left(self.sorted, key)
        if i == len(self.sorted) or self.sorted[i] != key:
            self.sorted.insert(i, key)

    def clear(self) -> None:
        self.sorted.clear()


def _common(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n
