"""One module per check family; each exposes `check(target, clients) -> list[Result]`."""
