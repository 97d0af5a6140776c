"""The lab's enrichment (steps 2.2.3 to 2.2.7) in plain Python, over JSON lines.

`cargo xtask bench enrich` runs this and `kinesis-lab enrich` on the same
lines, one after the other, and prints both rates and their ratio. It does
what the lab's ETL does to each record, written the way the lab writes it:
json.loads, the four keys computed with int() and appended, json.dumps.
Reads standard input, writes standard output.
"""

import datetime
import json
import sys


def enrich(record):
    history = record["browse_history"]
    record["processing_timestamp"] = datetime.datetime.now().isoformat()
    record["overall_product_quantity"] = sum(int(item["quantity"]) for item in history)
    record["overall_in_shopping_cart"] = sum(
        int(item["quantity"]) for item in history if item["in_shopping_cart"]
    )
    record["total_different_products"] = len(history)
    return record


def main():
    out = sys.stdout
    for line in sys.stdin:
        if line.strip():
            out.write(json.dumps(enrich(json.loads(line))))
            out.write("\n")


if __name__ == "__main__":
    main()
