def load(container) -> int:
    return 0
