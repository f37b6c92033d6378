#!/usr/bin/env python3
"""The architecture's size bars: no Rust source file over 500 lines and no function over 80,
tests aside (files under tests/, and a file's `#[cfg(test)]` module at its end).

    python3 scripts/size_bars.py      # prints what is over, exits 1 if anything is

A function is counted from its `fn` line to the closing brace at the same indentation, as
rustfmt lays it out. Files git does not track yet but does not ignore count too.
"""
import re
import subprocess
import sys

FILE_LINES, FN_LINES = 500, 80
FN = re.compile(r'^(\s*)(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)')


def sources():
    out = subprocess.check_output(
        ['git', 'ls-files', '--cached', '--others', '--exclude-standard', 'crates/*.rs'], text=True)
    return sorted(f for f in set(out.split()) if '/tests/' not in f)


def main():
    over = []
    for path in sources():
        lines = open(path, encoding='utf-8').read().split('\n')
        end = next((i for i, l in enumerate(lines) if l.startswith('#[cfg(test)]')), len(lines))
        if end > FILE_LINES:
            over.append(f'{path}: {end} lines')
        for i in range(end):
            m = FN.match(lines[i])
            if not m or lines[i].rstrip().endswith(';'):
                continue
            close = m.group(1) + '}'
            j = next((j for j in range(i, end) if lines[j] == close), None)
            if j is not None and j - i + 1 > FN_LINES:
                over.append(f'{path}:{i + 1}: fn {m.group(7)} is {j - i + 1} lines')
    print('\n'.join(over) if over else
          f'no file over {FILE_LINES} lines, no function over {FN_LINES} (tests aside)')
    return 1 if over else 0


if __name__ == '__main__':
    sys.exit(main())
