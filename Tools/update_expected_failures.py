#!/usr/bin/env python3
"""Maintains Tests/Conformance/expected-failures.txt from an `onnx-run test` log.

    onnx-run test Generated/node ... > run.txt
    .venv/bin/python Tools/update_expected_failures.py run.txt            # drop cases that now pass
    .venv/bin/python Tools/update_expected_failures.py run.txt --add-new  # also list new failures

The list only shrinks in normal work: by default this only removes entries whose case passed.
`--add-new` appends failing cases that are not listed, with a reason taken from the failure
(an unsupported operator, or the first words of the mismatch); edit those reasons by hand.
"""
import pathlib
import re
import sys

LIST = pathlib.Path(__file__).resolve().parent.parent / "Tests" / "Conformance" / "expected-failures.txt"


def reason_for(message):
    unsupported = re.search(r"unsupported operators: (.*)", message)
    if unsupported:
        ops = sorted({re.sub(r" \(domain.*", "", part.strip()) for part in unsupported.group(1).split(";")})
        return "not implemented yet: " + ", ".join(ops)
    if "not supported" in message:
        return "not implemented yet: " + re.sub(r'^.*?node "[^"]*": ', "", message)[:120]
    return "wrong result: " + message[:120]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    log = pathlib.Path(sys.argv[1]).read_text().splitlines()
    add_new = "--add-new" in sys.argv
    passed = {line[5:].split()[0] for line in log if line.startswith("PASS ") and line[5:].strip()}
    failed = {}
    for line in log:
        if line.startswith("FAIL "):
            name, _, message = line[5:].partition(": ")
            failed[name] = message.removesuffix(" (expected)")
    header, entries = [], {}
    if LIST.exists():
        for line in LIST.read_text().splitlines():
            if line.startswith("#") or not line.strip():
                header.append(line)
            else:
                name, _, reason = line.partition(":")
                entries[name.strip()] = reason.strip()
    removed = [n for n in entries if n in passed]
    for n in removed:
        del entries[n]
    added = []
    if add_new:
        for name, message in failed.items():
            if name not in entries:
                entries[name] = reason_for(message)
                added.append(name)
    if not header:
        header = ["# ONNX conformance cases expected to fail, one 'case: reason' per line.",
                  "# CI fails on any other failing case; cases listed here that pass are reported and must be removed.",
                  "# The list only shrinks. Maintained with Tools/update_expected_failures.py.", ""]
    LIST.write_text("\n".join(header + [f"{n}: {entries[n]}" for n in sorted(entries)]) + "\n")
    print(f"{len(removed)} removed (now passing), {len(added)} added, {len(entries)} listed", file=sys.stderr)


if __name__ == "__main__":
    main()
