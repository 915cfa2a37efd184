#!/usr/bin/env python3
"""Prints the commands of one marked block of packaging/README.md, one per line, adapted to where a test runs them.

Usage: readme_blocks.py README NAME [--build-dir DIR] [--no-sudo] [--user NAME]

A block is the fenced code block that follows the line <!-- packaging-test: NAME -->. Comment lines and blank
lines are dropped. --build-dir replaces the build directory the README calls "build" (a path starting with
"build/" or "./build/", or the word after "-B ", "--build " or "(cd "); --no-sudo drops a leading "sudo " (the tests already run as root);
--user replaces "$USER".
"""
import argparse
import re
import sys


def block(text, name):
    marker = f"<!-- packaging-test: {name} -->"
    lines = text.splitlines()
    try:
        start = lines.index(marker)
    except ValueError:
        sys.exit(f"readme_blocks: no block marked {marker}")
    i = start + 1
    while i < len(lines) and not lines[i].startswith("```"):
        if lines[i].strip():
            sys.exit(f"readme_blocks: text between {marker} and its code block")
        i += 1
    body = []
    for line in lines[i + 1:]:
        if line.startswith("```"):
            return body
        body.append(line)
    sys.exit(f"readme_blocks: the block after {marker} is not closed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("readme")
    ap.add_argument("name")
    ap.add_argument("--build-dir")
    ap.add_argument("--no-sudo", action="store_true")
    ap.add_argument("--user")
    a = ap.parse_args()
    with open(a.readme) as f:
        commands = block(f.read(), a.name)
    for cmd in commands:
        cmd = cmd.strip()
        if not cmd or cmd.startswith("#"):
            continue
        if a.build_dir:
            d = a.build_dir
            cmd = re.sub(r"(?<![\w./-])\./build(?=/)", d if d.startswith("/") else "./" + d, cmd)
            cmd = re.sub(r"(?<=[ (])build(?=/)", d, cmd)
            for before in (r"-B ", r"\(cd ", r"--build "):
                cmd = re.sub(rf"(?<={before})build(?=[ )]|$)", d, cmd)
        if a.no_sudo:
            cmd = re.sub(r"^sudo ", "", cmd)
        if a.user:
            cmd = cmd.replace('"$USER"', a.user).replace("$USER", a.user)
        print(cmd)


if __name__ == "__main__":
    main()
