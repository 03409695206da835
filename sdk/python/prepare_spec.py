"""The spec as openapi-python-client 0.29 takes it: a property documented on top of a `$ref`
(poem-openapi writes `allOf: [{$ref}, {description}]`, the OpenAPI 3.0 way) is read as the plain
`$ref` — the generator refuses `allOf` over an enum ("Cannot take allOf a non-object"). Nothing
else changes. Usage: prepare_spec.py SPEC OUT"""

import json
import sys


def plain_refs(node):
    if isinstance(node, dict):
        all_of = node.get("allOf")
        if (
            isinstance(all_of, list)
            and len(all_of) == 2
            and "$ref" in all_of[0]
            and set(all_of[1]) <= {"description"}
        ):
            del node["allOf"]
            node["$ref"] = all_of[0]["$ref"]
        for child in node.values():
            plain_refs(child)
    elif isinstance(node, list):
        for child in node:
            plain_refs(child)


def main():
    source, target = sys.argv[1:3]
    with open(source, encoding="utf-8") as f:
        spec = json.load(f)
    plain_refs(spec)
    with open(target, "w", encoding="utf-8") as f:
        json.dump(spec, f, indent=2)


if __name__ == "__main__":
    main()
