#!/usr/bin/env python3
"""Checks emotiond's HTTP server as a client would (used by Tests/EmotiondTests/WebTests.swift).

  web_probe.py json URL SCHEMA [TOKEN]     GET, 200, body valid against the JSON Schema file; prints the body
  web_probe.py mjpeg BASE CAMERA N OUTDIR  N parts of the live view: each a JPEG OpenCV decodes, with an
                                           annotation box (a rectangle outline in an emotion colour) over a
                                           face /api/state reports; writes them to OUTDIR
  web_probe.py get URL                     prints the body
  web_probe.py jpeg URL                    one JPEG that OpenCV decodes
  web_probe.py openapi BASE PATH NAME      PATH's answer valid against the served OpenAPI document's schema NAME
  web_probe.py sse URL [TOKEN [EVENT]]     the first EVENT (default track) of the SSE stream (printed as JSON)
  web_probe.py status URL [TOKEN [METHOD]] prints the status code (no exception for 4xx/5xx)
TOKEN: sent as a bearer token; basic:TOKEN as basic auth with TOKEN as the password.
  web_probe.py load BASE CAMERA N SECONDS  N live views and N event streams at once, /metrics scraped meanwhile
  web_probe.py metric BASE NAME            one sample of /metrics
  web_probe.py screenshot PNG              the page rendered (not blank, has the live view's picture)
Exit 0 on success; 1 with the reason on stderr."""
import base64, json, sys, time, urllib.error, urllib.request

import cv2
import numpy as np

# EmotionColors (Sources/Sinks/Annotator.swift), BGR.
COLOURS = {"angry": (40, 40, 230), "disgust": (40, 150, 40), "fear": (160, 50, 150), "happy": (0, 215, 255),
           "sad": (220, 110, 30), "surprise": (0, 140, 255), "neutral": (190, 190, 190)}


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def request(url, token=None, method="GET"):
    """TOKEN is sent as a bearer token; "basic:TOKEN" as basic auth with TOKEN as the password."""
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    if token and token.startswith("basic:"):
        req.add_header("Authorization", "Basic " + base64.b64encode(b"viewer:" + token[6:].encode()).decode())
    elif token:
        req.add_header("Authorization", "Bearer " + token)
    return urllib.request.urlopen(req, timeout=10)


def get(url):
    with request(url) as r:
        sys.stdout.write(r.read().decode())


def check_jpeg(url):
    with request(url) as r:
        if r.headers.get("Content-Type") != "image/jpeg":
            fail(f"{url}: Content-Type {r.headers.get('Content-Type')!r}")
        img = cv2.imdecode(np.frombuffer(r.read(), np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        fail(f"{url}: OpenCV cannot decode it")
    print(json.dumps({"shape": list(img.shape)}))


def check_openapi(base, path, component):
    """The answer at PATH validates against the served OpenAPI document's components.schemas[COMPONENT]."""
    with request(base + "/api/openapi.json") as r:
        doc = json.load(r)
    if doc.get("openapi", "").split(".")[0] != "3" or path not in doc["paths"]:
        fail(f"openapi.json: version {doc.get('openapi')!r}, paths {sorted(doc['paths'])}")
    with request(base + path) as r:
        body = json.load(r)
    errors = list(document_validator(doc, component).iter_errors(body))
    if errors:
        fail(f"{path}: {errors[0].message}")


def validator(schema, others):
    """A validator for SCHEMA that resolves $refs to OTHERS (schemas with an $id) offline."""
    import jsonschema
    from referencing import Registry, Resource
    registry = Registry().with_resources([(s["$id"], Resource.from_contents(s)) for s in others if "$id" in s])
    return jsonschema.Draft202012Validator(schema, registry=registry)


def document_validator(doc, component):
    """A validator for the OpenAPI document's components.schemas[COMPONENT], its $refs resolved
    in the document (they are JSON pointers into it: tools/gen-openapi.py)."""
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012
    uri = "urn:emotiond:openapi"
    registry = Registry().with_resource(uri, Resource.from_contents(doc, default_specification=DRAFT202012))
    return jsonschema.Draft202012Validator({"$ref": f"{uri}#/components/schemas/{component}"}, registry=registry)


def repo_schemas(schema_path):
    import glob, os
    return [json.load(open(p)) for p in glob.glob(os.path.join(os.path.dirname(schema_path), "*.schema.json"))]


def check_json(url, schema_path, token=None):
    with request(url, token) as r:
        if r.status != 200:
            fail(f"{url}: status {r.status}")
        doc = json.load(r)
    schema = json.load(open(schema_path))
    errors = sorted(validator(schema, repo_schemas(schema_path)).iter_errors(doc), key=lambda e: list(e.path))
    if errors:
        fail(f"{url}: {errors[0].message} at {list(errors[0].absolute_path)}")
    print(json.dumps(doc))


def mjpeg_parts(url, n):
    """The first n JPEG parts of a multipart/x-mixed-replace stream, by their Content-Length."""
    r = request(url)
    ctype = r.headers.get("Content-Type", "")
    if not ctype.startswith("multipart/x-mixed-replace") or "boundary=" not in ctype:
        fail(f"{url}: Content-Type {ctype!r}")
    boundary = b"--" + ctype.split("boundary=")[1].encode()
    parts = []
    while len(parts) < n:
        line = r.readline()
        if not line:
            fail(f"{url}: stream ended after {len(parts)} parts")
        if line.strip() != boundary:
            continue
        headers = {}
        while (h := r.readline().strip()):
            k, v = h.decode().split(":", 1)
            headers[k.lower()] = v.strip()
        if headers.get("content-type") != "image/jpeg":
            fail(f"part {len(parts)}: {headers}")
        parts.append(r.read(int(headers["content-length"])))
    r.close()
    return parts


def iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / float(aw * ah + bw * bh - w * h)


def outlines(img):
    """Bounding rectangles of outlined (not filled) shapes drawn in an emotion colour."""
    found = []
    for c in COLOURS.values():
        mask = (np.abs(img.astype(int) - np.array(c)).max(axis=2) < 40).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for ct in contours:
            x, y, w, h = cv2.boundingRect(ct)
            if w >= 30 and h >= 30 and mask[y:y + h, x:x + w].mean() < 0.5:
                found.append((x, y, w, h))
    return found


def check_mjpeg(base, camera, n, outdir):
    parts = mjpeg_parts(f"{base}/api/cameras/{camera}/stream.mjpeg", n)
    with request(f"{base}/api/state") as r:
        faces = [f["box"] for f in json.load(r)["cameras"][0]["faces"]]
    boxed = 0
    for i, data in enumerate(parts):
        if data[:2] != b"\xff\xd8" or data[-2:] != b"\xff\xd9":
            fail(f"part {i}: not a whole JPEG ({len(data)} bytes)")
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            fail(f"part {i}: OpenCV cannot decode it")
        open(f"{outdir}/part{i}.jpg", "wb").write(data)
        rects = outlines(img)
        if any(iou(r, (f["x"], f["y"], f["width"], f["height"])) > 0.3 for r in rects for f in faces):
            boxed += 1
    if not faces:
        fail("/api/state reports no face")
    if boxed == 0:
        fail(f"no part shows a box over the face {faces}")
    print(json.dumps({"parts": len(parts), "boxed": boxed, "shape": list(img.shape), "bytes": [len(p) for p in parts]}))


def check_sse(url, token=None, want="track"):
    r = request(url, token)
    if not r.headers.get("Content-Type", "").startswith("text/event-stream"):
        fail(f"{url}: Content-Type {r.headers.get('Content-Type')!r}")
    event, data = None, []
    deadline = time.time() + 20
    while time.time() < deadline:
        line = r.readline().decode().rstrip("\n")
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            if event == want:
                print("\n".join(data))
                return
            event, data = None, []
    fail(f"no {want} event within 20 s")


def status(url, token=None, method="GET"):
    try:
        with request(url, token or None, method) as r:
            print(r.status)
    except urllib.error.HTTPError as e:
        print(e.code, e.headers.get_all("WWW-Authenticate"))


def metric(base, name):
    with request(base + "/metrics") as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


def load(base, camera, n, seconds):
    """N live views and N event streams at once for SECONDS (bounded, loopback), /metrics scraped
    every 0.2 s meanwhile. Prints parts per viewer, scrape times, frames encoded, gauges, fps."""
    import threading
    n, seconds = int(n), float(seconds)
    end = time.time() + seconds
    counts = [0] * n
    errors = []

    def viewer(i):
        try:
            r = request(f"{base}/api/cameras/{camera}/stream.mjpeg")
            while time.time() < end:
                if r.readline().startswith(b"Content-Type: image/jpeg"):
                    counts[i] += 1
            r.close()
        except Exception as e:  # reported, not raised: the summary says which failed
            errors.append(f"viewer {i}: {e}")

    def events(i):
        try:
            r = request(f"{base}/api/events/live")
            r.readline()
            while time.time() < end:
                time.sleep(0.1)
            r.close()
        except Exception as e:
            errors.append(f"events {i}: {e}")

    encoded0 = metric(base, "emotiond_http_frames_encoded_total")
    threads = [threading.Thread(target=f, args=(i,)) for i in range(n) for f in (viewer, events)]
    for t in threads:
        t.start()
    scrapes, gauges = [], []
    time.sleep(0.5)
    while time.time() < end - 0.3:
        t0 = time.perf_counter()
        gauges.append((metric(base, "emotiond_http_viewers"), metric(base, "emotiond_http_event_clients")))
        scrapes.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.2)
    encoded = metric(base, "emotiond_http_frames_encoded_total") - encoded0
    with request(f"{base}/api/state") as r:
        fps = json.load(r)["cameras"][0]["fps"]
    for t in threads:
        t.join()
    scrapes.sort()
    print(json.dumps({"parts": counts, "encoded": encoded, "fps": fps, "errors": errors,
                      "max_gauges": [max(g[0] for g in gauges), max(g[1] for g in gauges)],
                      "scrape_ms": {"median": round(scrapes[len(scrapes) // 2], 1), "max": round(scrapes[-1], 1), "n": len(scrapes)}}))


def check_screenshot(png):
    img = cv2.imread(png, cv2.IMREAD_COLOR)
    if img is None:
        fail(f"{png}: not an image")
    # The page's dark background, text, and the live view: a photo has thousands of distinct colours.
    colours = len(np.unique(img.reshape(-1, 3) // 8, axis=0))
    if img.std() < 10 or colours < 500:
        fail(f"{png}: looks blank (std {img.std():.1f}, {colours} colours)")
    print(json.dumps({"shape": list(img.shape), "std": round(float(img.std()), 1), "colours": colours}))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"load": load, "metric": lambda b, n: print(metric(b, n)), "get": get, "jpeg": check_jpeg, "openapi": check_openapi, "json": check_json, "mjpeg": lambda b, c, n, o: check_mjpeg(b, c, int(n), o), "sse": check_sse,
     "status": status, "screenshot": check_screenshot}[cmd](*args)
