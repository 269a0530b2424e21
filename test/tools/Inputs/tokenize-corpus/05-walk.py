"""A small program about walking through a directory tree."""

import os


def count_lines(root, suffix=".txt"):
    """Return the number of lines in every file under root with suffix."""
    total = 0
    for directory, subdirs, files in os.walk(root):
        subdirs.sort()
        for name in sorted(files):
            if not name.endswith(suffix):
                continue
            path = os.path.join(directory, name)
            with open(path, encoding="utf-8") as handle:
                for _ in handle:
                    total += 1
    return total


if __name__ == "__main__":
    print(count_lines("."))
