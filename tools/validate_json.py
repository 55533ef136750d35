#!/usr/bin/env python3
"""Validates every line of an NDJSON file (or a JSON file with --whole) against a JSON Schema.
Exit 0 and prints 'N valid' when all lines validate; exit 1 naming the first bad line."""
import json, sys
import jsonschema

args = [a for a in sys.argv[1:] if not a.startswith("--")]
schema = json.load(open(args[0]))
validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
n = 0
with open(args[1]) as f:
    docs = [json.load(f)] if "--whole" in sys.argv else (json.loads(l) for l in f if l.strip())
    for n, doc in enumerate(docs, 1):
        errors = sorted(validator.iter_errors(doc), key=lambda e: e.path)
        if errors:
            print(f"{args[1]}:{n}: {errors[0].message} at {list(errors[0].absolute_path)}")
            sys.exit(1)
print(f"{n} valid")
