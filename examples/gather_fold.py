"""`gather` over a list of graphs built by ordinary code, and `.fold` with a monoid.

    python examples/gather_fold.py

`gather([...])` runs graphs of one type on one input and returns their outputs in list
order; `.fold(m)` folds them with a monoid instead (here `Sum` and `Merge`), in list order
whatever order they finish in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

from dagfn import Graph, gather, node, run_sync
from dagfn.monoid import Merge, Sum

PRICES = {"apples": 3, "pears": 5, "plums": 7}
Basket = dict[str, int]


def pricer(item: str, delay: float) -> Graph[Basket, int, object]:
    async def price(basket: Basket) -> int:
        await trio.sleep(delay)  # later items finish first: the order never shows
        return basket.get(item, 0) * PRICES[item]

    return node(price).named(f"price_{item}")


def line_of(item: str) -> Callable[[Basket], Awaitable[dict[str, int]]]:
    async def line(basket: Basket) -> dict[str, int]:
        return {item: basket.get(item, 0) * PRICES[item]}

    return line


items = sorted(PRICES)
each_price = gather([pricer(item, 0.01 * (len(items) - i)) for i, item in enumerate(items)])
total = gather([pricer(item, 0.0).named(f"total_{item}") for item in items]).fold(Sum())
lines = gather([node(line_of(item)).named(f"line_{item}") for item in items]).fold(Merge())


def main() -> int:
    basket = {"apples": 2, "plums": 1}
    print(run_sync(each_price, basket).unwrap())  # (6, 0, 7): list order
    print(run_sync(total, basket).unwrap())  # 13
    print(run_sync(lines, basket).unwrap())  # {'apples': 6, 'pears': 0, 'plums': 7}
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
