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
    entry: int | None = None  # an entry whose sequence passes through this node


class PrefixCache:
    """Longest-prefix lookup of cached KV by token ids, within a memory budget."""

    def __init__(self, max_bytes: int = 512 * 2**20) -> None:
        self.max_bytes = max_bytes
        self.entries: OrderedDict[int, tuple[tuple[int, ...], KV]] = OrderedDict()
        self.root = _Node()
        self.bytes = 0
        self._next = 0

    def lookup(self, ids: Sequence[int]) -> tuple[int, KV | None]:
        """(length, kv) of the longest cached prefix of `ids` (kv sliced to that length)."""
        node, depth, best = self.root, 0, (0, None)
        for tok in ids:
            node = node.children.get(tok)
            if node is None or node.entry not in self.entries:
                break
            depth += 1
            best = (depth, node.entry)
        length, entry = best
        if entry is None:
            return 0, None
        self.entries.move_to_end(entry)
        kv = self.entries[entry][1]
        return length, [(k[:, :length], v[:, :length]) for k, v in kv]

    def insert(self, ids: Sequence[int], kv: KV) -> None:
        """Remember the KV of a token sequence (pass tensors the cache may own: copies, not views)."""
        ids = tuple(ids)
        if not ids:
            return
        size = sum(k.numel() * k.element_size() * 2 for k, _ in kv)
        if size > self.max_bytes:
            return
        entry = self._next
        self._next += 1
        self.entries[entry] = (ids, list(kv))
        self.bytes += size
        node = self.root
        for tok in ids:
            node = node.children.setdefault(tok, _Node())
            node.entry = entry  # the newest entry through a node serves its prefixes
        if self.bytes > self.max_bytes:
            self._evict()

    def _evict(self) -> None:
        while self.bytes > self.max_bytes * 0.75 and self.entries:
            _, (_, kv) = self.entries.popitem(last=False)
            self.bytes -= sum(k.numel() * k.element_size() * 2 for k, _ in kv)
        self.root = _Node()  # rebuild the trie over what is left (nodes of evicted entries go)
        for entry, (ids, _) in self.entries.items():
            node = self.root
            for tok in ids:
                node = node.children.setdefault(tok, _Node())
                node.entry = entry

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
