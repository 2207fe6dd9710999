"""The example pipeline's UDFs (etc/schedules.d/examples.conf, "points-pipeline").

udf:     some random points around two cities, as a GeoJSON FeatureCollection: the
         pipeline stores it, and its next step partitions it into files by area.
summary: reads the partition step's index and says what it holds.
"""
import json
import random


def udf(n: int = 500, seed: int = 0):
    rng = random.Random(seed)
    cities = [("Paris", 2.35, 48.86), ("Sydney", 151.21, -33.87)]
    features = []
    for i in range(n):
        name, lon, lat = cities[i % len(cities)]
        features.append({
            "type": "Feature",
            "properties": {"id": i, "city": name},
            "geometry": {"type": "Point",
                         "coordinates": [lon + rng.uniform(-0.2, 0.2), lat + rng.uniform(-0.1, 0.1)]},
        })
    return {"type": "FeatureCollection", "features": features}


def summary(index: str):
    with open(index[len("file://"):]) as f:
        ix = json.load(f)
    for part in ix["files"]:
        print(f"{part['path']}: {part['rows']} rows in cell {part['quadkey']}, {len(part['chunks'])} chunks")
    return {"rows": ix["rows"], "files": len(ix["files"])}
