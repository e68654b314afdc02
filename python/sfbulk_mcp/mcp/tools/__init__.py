"""Tool modules, one per toolset: data, schema, bulk, org (with the apex escape hatches)."""
